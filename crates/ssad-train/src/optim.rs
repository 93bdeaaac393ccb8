//! Optimizers with PyTorch's update rules: SGD (momentum, Nesterov, L2 weight
//! decay), Adam (L2 or decoupled AdamW decay, configurable betas) and LARS as
//! torchlars wraps SGD.
//!
//! candle-nn has only plain SGD and AdamW, and neither exposes its moments for
//! checkpointing, hence this module.

use crate::params::ParamSet;
use crate::{Error, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// `torch.optim.SGD` with `dampening = 0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgdConfig {
    /// Base learning rate.
    pub lr: f64,
    /// Momentum factor; 0 disables the buffer.
    pub momentum: f64,
    /// Nesterov momentum (needs `momentum > 0`).
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
}

/// RotNet's CIFAR setting (Gidaris et al., ICLR 2018): lr 0.1, Nesterov
/// momentum 0.9, weight decay 5e-4.
impl Default for SgdConfig {
    fn default() -> Self {
        Self {
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
        }
    }
}

/// `torch.optim.Adam` (or `AdamW` with `decoupled`), without amsgrad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    /// Base learning rate.
    pub lr: f64,
    /// Decay rates of the first and second moments.
    pub betas: (f64, f64),
    /// Added to the denominator.
    pub eps: f64,
    /// Weight decay; 0 disables it.
    pub weight_decay: f64,
    /// Decoupled decay `p *= 1 - lr * wd` (AdamW) instead of an L2 gradient term (Adam).
    pub decoupled: bool,
}

/// GOAD's setting (`opt_tc.py`): lr 1e-3, betas (0.5, 0.999), no weight decay.
impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            betas: (0.5, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }
}

/// LARS as `torchlars.LARS(SGD(lr, momentum, weight_decay), eps, trust_coef)`.
///
/// Per variable, with `r = trust_coef * |p| / (|g| + wd * |p| + eps)` (or 1 when
/// `|p|` or `|g|` is 0), the gradient becomes `r * (g + wd * p)` and is fed to
/// SGD with momentum and no further decay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LarsConfig {
    /// Base learning rate of the wrapped SGD.
    pub lr: f64,
    /// Momentum of the wrapped SGD.
    pub momentum: f64,
    /// Weight decay, folded into the scaled gradient.
    pub weight_decay: f64,
    /// Trust coefficient.
    pub trust_coef: f64,
    /// Stabiliser of the trust ratio.
    pub eps: f64,
    /// Leave one-dimensional variables (biases, BatchNorm affine) out of the
    /// trust ratio and weight decay, as google-research/simclr does; torchlars
    /// and CSI do not.
    pub exclude_1d: bool,
}

/// CSI's setting (`common/train.py`): lr 0.1, momentum 0.9, weight decay 1e-6,
/// trust_coef 1e-3, eps 1e-8, every variable adapted.
impl Default for LarsConfig {
    fn default() -> Self {
        Self {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 1e-6,
            trust_coef: 1e-3,
            eps: 1e-8,
            exclude_1d: false,
        }
    }
}

/// Which optimizer to use, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// SGD with momentum.
    Sgd(SgdConfig),
    /// Adam / AdamW.
    Adam(AdamConfig),
    /// LARS around SGD with momentum.
    Lars(LarsConfig),
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::Sgd(SgdConfig::default())
    }
}

fn require(ok: bool, field: &'static str, reason: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            field,
            reason: reason(),
        })
    }
}

fn finite_at_least(field: &'static str, v: f64, min: f64) -> Result<()> {
    require(v.is_finite() && v >= min, field, || {
        format!("must be finite and >= {min}, got {v}")
    })
}

fn unit_interval(field: &'static str, v: f64) -> Result<()> {
    require((0.0..1.0).contains(&v), field, || {
        format!("must lie in [0, 1), got {v}")
    })
}

impl OptimizerConfig {
    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.lr,
            OptimizerConfig::Adam(c) => c.lr,
            OptimizerConfig::Lars(c) => c.lr,
        }
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        match self {
            OptimizerConfig::Sgd(c) => {
                finite_at_least("lr", c.lr, 0.0)?;
                unit_interval("momentum", c.momentum)?;
                finite_at_least("weight_decay", c.weight_decay, 0.0)?;
                require(!c.nesterov || c.momentum > 0.0, "nesterov", || {
                    "Nesterov momentum needs momentum > 0".to_string()
                })
            }
            OptimizerConfig::Adam(c) => {
                finite_at_least("lr", c.lr, 0.0)?;
                unit_interval("betas.0", c.betas.0)?;
                unit_interval("betas.1", c.betas.1)?;
                finite_at_least("eps", c.eps, 0.0)?;
                finite_at_least("weight_decay", c.weight_decay, 0.0)
            }
            OptimizerConfig::Lars(c) => {
                finite_at_least("lr", c.lr, 0.0)?;
                unit_interval("momentum", c.momentum)?;
                finite_at_least("weight_decay", c.weight_decay, 0.0)?;
                finite_at_least("trust_coef", c.trust_coef, 0.0)?;
                finite_at_least("eps", c.eps, 0.0)
            }
        }
    }

    fn slot_names(&self) -> &'static [&'static str] {
        match self {
            OptimizerConfig::Sgd(_) | OptimizerConfig::Lars(_) => &["momentum_buffer"],
            OptimizerConfig::Adam(_) => &["exp_avg", "exp_avg_sq"],
        }
    }
}

/// An optimizer over a [`ParamSet`], with its state (moments, step count)
/// exposed for checkpoints.
#[derive(Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    params: ParamSet,
    /// Per variable, in name order: the config's `slot_names()` buffers.
    slots: Vec<Vec<Option<Tensor>>>,
    steps: u64,
    lr: f64,
}

impl Optimizer {
    /// An optimizer at step 0 with the config's base learning rate.
    pub fn new(config: OptimizerConfig, params: ParamSet) -> Result<Self> {
        config.validate()?;
        let width = config.slot_names().len();
        let slots = vec![vec![None; width]; params.len()];
        Ok(Self {
            lr: config.lr(),
            config,
            params,
            slots,
            steps: 0,
        })
    }

    /// The variables this optimizer updates.
    pub fn params(&self) -> &ParamSet {
        &self.params
    }

    /// The learning rate the next step uses.
    pub fn learning_rate(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate (what a schedule does before each step).
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Updates every variable that has a gradient in `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let lr = self.lr;
        let steps = self.steps;
        for ((_, var), slots) in self.params.named().iter().zip(self.slots.iter_mut()) {
            let Some(grad) = grads.get(var) else { continue };
            // Detached (same storage): the update, and the momentum / Adam
            // buffers kept for the next step, must not record ops on the
            // variable, or each buffer would hold the chain of every earlier
            // step's buffers and gradients (memory growing by several model
            // sizes per step).
            let p = &var.as_tensor().detach();
            let updated = match &self.config {
                OptimizerConfig::Sgd(c) => {
                    let g = add_decay(grad, p, c.weight_decay)?;
                    let g = momentum_direction(g, &mut slots[0], c.momentum, c.nesterov)?;
                    (p - (g * lr)?)?
                }
                OptimizerConfig::Adam(c) => adam_update(c, p, grad, slots, lr, steps)?,
                OptimizerConfig::Lars(c) => {
                    let g = if c.exclude_1d && p.rank() <= 1 {
                        grad.clone()
                    } else {
                        let ratio = trust_ratio(c, p, grad)?;
                        (add_decay(grad, p, c.weight_decay)? * ratio)?
                    };
                    let g = momentum_direction(g, &mut slots[0], c.momentum, false)?;
                    (p - (g * lr)?)?
                }
            };
            var.set(&updated)?;
        }
        Ok(())
    }

    /// The optimizer state as named tensors (`"<var>/<slot>"`, PyTorch's slot
    /// names), for a checkpoint. Slots not yet created are absent.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let names = self.config.slot_names();
        let mut out = Vec::new();
        for ((var_name, _), slots) in self.params.named().iter().zip(&self.slots) {
            for (slot_name, slot) in names.iter().zip(slots) {
                if let Some(t) = slot {
                    out.push((format!("{var_name}/{slot_name}"), t.clone()));
                }
            }
        }
        out
    }

    /// Restores state written by [`Optimizer::state_tensors`] together with
    /// the step count; every tensor must belong to one of this optimizer's
    /// variables and have its shape.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, steps: u64) -> Result<()> {
        let names = self.config.slot_names();
        let mut slots = vec![vec![None; names.len()]; self.params.len()];
        let mut used = 0;
        for (i, (var_name, var)) in self.params.named().iter().enumerate() {
            for (j, slot_name) in names.iter().enumerate() {
                let Some(t) = tensors.get(&format!("{var_name}/{slot_name}")) else {
                    continue;
                };
                if t.dims() != var.dims() {
                    return Err(Error::InvalidConfig {
                        field: "optimizer state",
                        reason: format!(
                            "{var_name}/{slot_name} has shape {:?}, the variable {:?}",
                            t.dims(),
                            var.dims()
                        ),
                    });
                }
                slots[i][j] = Some(t.to_dtype(var.dtype())?.to_device(var.device())?);
                used += 1;
            }
        }
        if used != tensors.len() {
            return Err(Error::InvalidConfig {
                field: "optimizer state",
                reason: format!(
                    "{} of {} tensors match no variable of this optimizer",
                    tensors.len() - used,
                    tensors.len()
                ),
            });
        }
        self.slots = slots;
        self.steps = steps;
        Ok(())
    }
}

fn add_decay(grad: &Tensor, p: &Tensor, weight_decay: f64) -> Result<Tensor> {
    if weight_decay == 0.0 {
        return Ok(grad.clone());
    }
    Ok((grad + (p * weight_decay)?)?)
}

/// PyTorch SGD's momentum (dampening 0): the buffer starts as the first gradient.
fn momentum_direction(
    g: Tensor,
    buffer: &mut Option<Tensor>,
    momentum: f64,
    nesterov: bool,
) -> Result<Tensor> {
    if momentum == 0.0 {
        return Ok(g);
    }
    let buf = match buffer.take() {
        None => g.clone(),
        Some(b) => ((b * momentum)? + &g)?,
    };
    let direction = if nesterov {
        (g + (&buf * momentum)?)?
    } else {
        buf.clone()
    };
    *buffer = Some(buf);
    Ok(direction)
}

fn adam_update(
    c: &AdamConfig,
    p: &Tensor,
    grad: &Tensor,
    slots: &mut [Option<Tensor>],
    lr: f64,
    steps: u64,
) -> Result<Tensor> {
    let (beta1, beta2) = c.betas;
    let mut p = p.clone();
    let g = if c.decoupled {
        if c.weight_decay != 0.0 {
            p = (p * (1.0 - lr * c.weight_decay))?;
        }
        grad.clone()
    } else {
        add_decay(grad, &p, c.weight_decay)?
    };
    let m = match slots[0].take() {
        None => (&g * (1.0 - beta1))?,
        Some(m) => ((m * beta1)? + (&g * (1.0 - beta1))?)?,
    };
    let v = match slots[1].take() {
        None => (g.sqr()? * (1.0 - beta2))?,
        Some(v) => ((v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?,
    };
    let t = steps as i32;
    let bias1 = 1.0 - beta1.powi(t);
    let bias2 = 1.0 - beta2.powi(t);
    let denom = ((v.sqrt()? / bias2.sqrt())? + c.eps)?;
    let updated = (p - ((&m / denom)? * (lr / bias1))?)?;
    slots[0] = Some(m);
    slots[1] = Some(v);
    Ok(updated)
}

fn l2_norm(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?
        .sqr()?
        .sum_all()?
        .sqrt()?
        .to_scalar::<f64>()?)
}

/// torchlars' `compute_adaptive_lr`.
fn trust_ratio(c: &LarsConfig, p: &Tensor, grad: &Tensor) -> Result<f64> {
    let p_norm = l2_norm(p)?;
    let g_norm = l2_norm(grad)?;
    if p_norm > 0.0 && g_norm > 0.0 {
        Ok(c.trust_coef * p_norm / (g_norm + c.weight_decay * p_norm + c.eps))
    } else {
        Ok(1.0)
    }
}
