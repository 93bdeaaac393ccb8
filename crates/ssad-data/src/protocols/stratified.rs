//! ADBench's split (`data_generator.py` of Minqi824/ADBench): scikit-learn's
//! `train_test_split(X, y, test_size=0.3, shuffle=True, stratify=y)`.
//!
//! Sizes follow `StratifiedShuffleSplit`: `n_test = ceil(test_fraction * n)`,
//! `n_train = n - n_test`, and each class gets its share of the training rows by
//! largest remainder (scikit-learn's `_approximate_mode`; ties go to the normal
//! class here instead of being drawn at random). Rows are drawn with [`Seed`], so
//! the sets are reproducible but not the ones numpy's RNG would pick. ADBench
//! then min-max scales with training statistics: see [`super::MinMaxScaler`].

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use ssad_core::{Matrix, Seed, Stream};

use crate::error::{Error, Result};
use crate::formats::Labeled;

/// Settings of [`stratified_split`]; the default is ADBench's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StratifiedConfig {
    /// Fraction of rows in the test set (ADBench: 0.3, i.e. 70% train).
    pub test_fraction: f64,
}

impl Default for StratifiedConfig {
    fn default() -> Self {
        Self { test_fraction: 0.3 }
    }
}

/// A split whose training rows keep their labels (ADBench trains unsupervised
/// detectors on contaminated data and semi-supervised ones on a few labels).
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledSplit {
    /// Training rows and their labels.
    pub train: Labeled,
    /// Test rows and their labels.
    pub test: Labeled,
}

/// Splits `data` into stratified, shuffled train and test sets.
pub fn stratified_split(
    data: &Labeled,
    config: &StratifiedConfig,
    seed: Seed,
) -> Result<LabeledSplit> {
    let f = config.test_fraction;
    if !(f > 0.0 && f < 1.0) {
        return Err(Error::Protocol(format!(
            "test_fraction must be in (0, 1), got {f}"
        )));
    }
    let n = data.len();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n_test = (f * n as f64).ceil() as usize;
    let n_train = n.saturating_sub(n_test);
    let mut classes: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    for (i, &a) in data.y.iter().enumerate() {
        classes[usize::from(a)].push(i);
    }
    if n_train == 0 || classes.iter().any(|c| c.len() < 2) {
        return Err(Error::Protocol(format!(
            "a stratified split needs at least 2 rows of each class and a non-empty train set \
             ({} normal, {} anomalies, {n_train} train rows)",
            classes[0].len(),
            classes[1].len()
        )));
    }
    let train_counts = approximate_mode([classes[0].len(), classes[1].len()], n_train);
    let (mut train_rows, mut test_rows) = (Vec::new(), Vec::new());
    for (c, rows) in classes.iter_mut().enumerate() {
        rows.shuffle(&mut seed.rng(Stream::Subsample, 0, c as u64));
        train_rows.extend_from_slice(&rows[..train_counts[c]]);
        test_rows.extend_from_slice(&rows[train_counts[c]..]);
    }
    // Mix the classes so that row order carries no label information.
    train_rows.shuffle(&mut seed.rng(Stream::Subsample, 1, 0));
    test_rows.shuffle(&mut seed.rng(Stream::Subsample, 1, 1));
    let take = |rows: &[usize]| -> Result<Labeled> {
        let x: Matrix = data.x.view().select_rows(rows)?;
        Ok(Labeled {
            x,
            y: rows.iter().map(|&r| data.y[r]).collect(),
        })
    };
    Ok(LabeledSplit {
        train: take(&train_rows)?,
        test: take(&test_rows)?,
    })
}

/// Shares `draws` between two classes proportionally to `counts`, by largest remainder.
fn approximate_mode(counts: [usize; 2], draws: usize) -> [usize; 2] {
    let total = counts[0] + counts[1];
    let exact = counts.map(|c| c as f64 * draws as f64 / total as f64);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let mut out = exact.map(|e| e.floor() as usize);
    let mut left = draws - out[0] - out[1];
    // The class with the larger remainder gets the spare draw first (ties: normal).
    let order = if exact[1] - exact[1].floor() > exact[0] - exact[0].floor() {
        [1, 0]
    } else {
        [0, 1]
    };
    for c in order {
        if left > 0 && out[c] < counts[c] {
            out[c] += 1;
            left -= 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_adbench() {
        assert_eq!(StratifiedConfig::default().test_fraction, 0.3);
        let parsed: StratifiedConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, StratifiedConfig::default());
        assert!(serde_json::from_str::<StratifiedConfig>("{\"train\": 0.7}").is_err());
    }

    #[test]
    fn approximate_mode_matches_sklearn_counts() {
        // sklearn on 3679 normal / 93 anomalies with test_size=0.3: 2640 train = 2575 + 65.
        assert_eq!(approximate_mode([3679, 93], 2640), [2575, 65]);
        assert_eq!(approximate_mode([5, 5], 7), [4, 3]);
    }
}
