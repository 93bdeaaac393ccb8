//! Learning-rate schedules as pure functions of the (possibly fractional) epoch,
//! with PyTorch's closed forms.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// How the learning rate moves over training. `t` below is the epoch, counted
/// from 0, fractional when the schedule is applied per step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleConfig {
    /// The base rate throughout.
    #[default]
    Constant,
    /// `StepLR`: `base * gamma^floor(t / step_size)`.
    Step {
        /// Epochs between decays.
        step_size: usize,
        /// Decay factor.
        gamma: f64,
    },
    /// `MultiStepLR`: multiply by `gamma` at each milestone epoch.
    MultiStep {
        /// Epochs at which the rate decays, increasing.
        milestones: Vec<usize>,
        /// Decay factor.
        gamma: f64,
    },
    /// `CosineAnnealingLR`: `eta_min + (base - eta_min) (1 + cos(pi t / T)) / 2`.
    Cosine {
        /// Period `T` in epochs; `None` means the number of training epochs.
        t_max: Option<usize>,
        /// Floor of the rate.
        eta_min: f64,
    },
    /// CSI's `GradualWarmupScheduler` then cosine: for `t <= W` the rate rises
    /// linearly, `base * ((multiplier - 1) t / W + 1)` (or `base * t / W` when
    /// `multiplier == 1`); afterwards it is cosine annealing from
    /// `base * multiplier` over `t - W` with period `t_max`.
    WarmupCosine {
        /// Peak rate over base rate (CSI: 10).
        multiplier: f64,
        /// Warm-up length `W` in epochs (CSI: 10).
        warmup_epochs: usize,
        /// Cosine period; `None` means the number of training epochs (as CSI).
        t_max: Option<usize>,
        /// Floor of the cosine part.
        eta_min: f64,
    },
    /// `CosineAnnealingWarmRestarts` (SGDR): cosine cycles of `t_0`, `t_0 t_mult`, ... epochs.
    CosineWarmRestarts {
        /// Length of the first cycle in epochs.
        t_0: usize,
        /// Growth factor of the cycle length (>= 1).
        t_mult: usize,
        /// Floor of the rate.
        eta_min: f64,
    },
}

fn invalid(field: &'static str, reason: String) -> Error {
    Error::InvalidConfig { field, reason }
}

fn cosine(base: f64, eta_min: f64, t: f64, period: f64) -> f64 {
    eta_min + (base - eta_min) * (1.0 + (PI * t / period).cos()) / 2.0
}

impl ScheduleConfig {
    /// Checks the schedule's fields.
    pub fn validate(&self) -> Result<()> {
        let gamma_ok = |g: f64| {
            if g.is_finite() && g > 0.0 {
                Ok(())
            } else {
                Err(invalid("gamma", format!("must be finite and > 0, got {g}")))
            }
        };
        let floor_ok = |e: f64| {
            if e.is_finite() && e >= 0.0 {
                Ok(())
            } else {
                Err(invalid(
                    "eta_min",
                    format!("must be finite and >= 0, got {e}"),
                ))
            }
        };
        match self {
            ScheduleConfig::Constant => Ok(()),
            ScheduleConfig::Step { step_size, gamma } => {
                if *step_size == 0 {
                    return Err(invalid("step_size", "must be >= 1".into()));
                }
                gamma_ok(*gamma)
            }
            ScheduleConfig::MultiStep { milestones, gamma } => {
                if milestones.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(invalid("milestones", "must be strictly increasing".into()));
                }
                gamma_ok(*gamma)
            }
            ScheduleConfig::Cosine { t_max, eta_min } => {
                if *t_max == Some(0) {
                    return Err(invalid("t_max", "must be >= 1".into()));
                }
                floor_ok(*eta_min)
            }
            ScheduleConfig::WarmupCosine {
                multiplier,
                warmup_epochs,
                t_max,
                eta_min,
            } => {
                if !(multiplier.is_finite() && *multiplier >= 1.0) {
                    return Err(invalid(
                        "multiplier",
                        format!("must be finite and >= 1, got {multiplier}"),
                    ));
                }
                if *warmup_epochs == 0 {
                    return Err(invalid("warmup_epochs", "must be >= 1".into()));
                }
                if *t_max == Some(0) {
                    return Err(invalid("t_max", "must be >= 1".into()));
                }
                floor_ok(*eta_min)
            }
            ScheduleConfig::CosineWarmRestarts {
                t_0,
                t_mult,
                eta_min,
            } => {
                if *t_0 == 0 || *t_mult == 0 {
                    return Err(invalid("t_0", "t_0 and t_mult must be >= 1".into()));
                }
                floor_ok(*eta_min)
            }
        }
    }

    /// The learning rate at epoch `t` for base rate `base` in a run of `epochs` epochs.
    pub fn lr_at(&self, base: f64, t: f64, epochs: usize) -> f64 {
        let t = t.max(0.0);
        match self {
            ScheduleConfig::Constant => base,
            ScheduleConfig::Step { step_size, gamma } => {
                base * gamma.powf((t / *step_size as f64).floor())
            }
            ScheduleConfig::MultiStep { milestones, gamma } => {
                let passed = milestones.iter().filter(|&&m| t >= m as f64).count();
                base * gamma.powi(passed as i32)
            }
            ScheduleConfig::Cosine { t_max, eta_min } => {
                cosine(base, *eta_min, t, t_max.unwrap_or(epochs).max(1) as f64)
            }
            ScheduleConfig::WarmupCosine {
                multiplier,
                warmup_epochs,
                t_max,
                eta_min,
            } => {
                let w = *warmup_epochs as f64;
                if t <= w {
                    if *multiplier == 1.0 {
                        base * t / w
                    } else {
                        base * ((multiplier - 1.0) * t / w + 1.0)
                    }
                } else {
                    let period = t_max.unwrap_or(epochs).max(1) as f64;
                    cosine(base * multiplier, *eta_min, t - w, period)
                }
            }
            ScheduleConfig::CosineWarmRestarts {
                t_0,
                t_mult,
                eta_min,
            } => {
                let (t_0, mult) = (*t_0 as f64, *t_mult as f64);
                let (t_cur, t_i) = if *t_mult == 1 {
                    (t % t_0, t_0)
                } else {
                    // Index n of the current cycle: t_0 (mult^n - 1) / (mult - 1) <= t.
                    let n = ((t / t_0 * (mult - 1.0) + 1.0).ln() / mult.ln()).floor();
                    let start = t_0 * (mult.powf(n) - 1.0) / (mult - 1.0);
                    (t - start, t_0 * mult.powf(n))
                };
                cosine(base, *eta_min, t_cur, t_i)
            }
        }
    }
}
