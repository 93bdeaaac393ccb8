//! Input validation shared by every scorer, so that bad input is a typed error.

use ssad_core::MatrixView;

use crate::{Error, Result};

/// Training data must be non-empty and finite.
pub(crate) fn fit_input(x: MatrixView<'_>) -> Result<()> {
    x.check_non_empty()?;
    x.check_finite()?;
    Ok(())
}

/// Data to score must have the fitted width and be finite; zero rows are fine.
pub(crate) fn score_input(x: MatrixView<'_>, n_features: usize) -> Result<()> {
    x.check_width(n_features)?;
    x.check_finite()?;
    Ok(())
}

/// A positive count from a config.
pub(crate) fn positive(field: &'static str, value: usize) -> Result<()> {
    if value == 0 {
        return Err(Error::InvalidConfig {
            field,
            reason: "must be at least 1".into(),
        });
    }
    Ok(())
}

/// A finite, strictly positive real from a config.
pub(crate) fn positive_real(field: &'static str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::InvalidConfig {
            field,
            reason: format!("must be finite and > 0, got {value}"),
        });
    }
    Ok(())
}

/// Reads a width saved as a scalar back into a `usize`.
pub(crate) fn saved_count(name: &str, v: f64) -> Result<usize> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64 {
        Ok(v as usize)
    } else {
        Err(Error::Corrupt(format!("`{name}` = {v} is not a count")))
    }
}
