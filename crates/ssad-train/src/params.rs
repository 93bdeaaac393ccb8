//! The name-sorted set of variables an optimizer updates.

use crate::{Error, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Var};

/// Suffixes of BatchNorm buffers: saved with a model, never trained.
const BUFFER_SUFFIXES: [&str; 3] = ["running_mean", "running_var", "num_batches_tracked"];

/// Whether `name` is a BatchNorm running statistic rather than a trainable parameter.
pub fn is_buffer_name(name: &str) -> bool {
    BUFFER_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Named variables sorted by name.
///
/// Sorting makes every order-sensitive reduction (the global gradient norm,
/// checkpoint layout) independent of `HashMap` iteration order.
#[derive(Debug, Clone, Default)]
pub struct ParamSet {
    named: Vec<(String, Var)>,
}

impl ParamSet {
    /// Sorts `named` by name; duplicate names are an error.
    pub fn new(mut named: Vec<(String, Var)>) -> Result<Self> {
        named.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = named.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::InvalidConfig {
                field: "params",
                reason: format!("variable name {:?} appears twice", w[0].0),
            });
        }
        Ok(Self { named })
    }

    /// The trainable floating-point variables of a candle `VarMap`, BatchNorm
    /// running statistics excluded.
    pub fn trainable(varmap: &candle_nn::VarMap) -> Result<Self> {
        Self::from_varmap(varmap, |name, var| {
            !is_buffer_name(name) && var.dtype().is_float()
        })
    }

    /// Every variable of a candle `VarMap` (what a checkpoint must hold).
    pub fn all(varmap: &candle_nn::VarMap) -> Result<Self> {
        Self::from_varmap(varmap, |_, _| true)
    }

    fn from_varmap(varmap: &candle_nn::VarMap, keep: impl Fn(&str, &Var) -> bool) -> Result<Self> {
        let data = varmap.data().lock().map_err(|_| Error::InvalidConfig {
            field: "varmap",
            reason: "its lock is poisoned".to_string(),
        })?;
        let named = data
            .iter()
            .filter(|(n, v)| keep(n, v))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        Self::new(named)
    }

    /// The variables with their names, sorted by name.
    pub fn named(&self) -> &[(String, Var)] {
        &self.named
    }

    /// The variables, sorted by name.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.named.iter().map(|(_, v)| v)
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.named.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.named.is_empty()
    }

    /// Number of scalars over all variables.
    pub fn num_elements(&self) -> usize {
        self.vars().map(|v| v.elem_count()).sum()
    }

    /// The global L2 norm of the gradients of these variables (PyTorch's
    /// `clip_grad_norm_` total norm), accumulated in name order in f64.
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut sum = 0.0f64;
        for var in self.vars() {
            if let Some(g) = grads.get(var) {
                sum += g
                    .to_dtype(DType::F64)?
                    .sqr()?
                    .sum_all()?
                    .to_scalar::<f64>()?;
            }
        }
        Ok(sum.sqrt())
    }

    /// Scales the gradients so that their global norm is at most `max_norm`,
    /// as `torch.nn.utils.clip_grad_norm_` (coefficient `max_norm / (norm + 1e-6)`,
    /// applied only when below 1). Returns the norm before clipping.
    pub fn clip_grad_norm(&self, grads: &mut GradStore, max_norm: f64) -> Result<f64> {
        let norm = self.grad_norm(grads)?;
        let coef = max_norm / (norm + 1e-6);
        if coef < 1.0 {
            for var in self.vars() {
                if let Some(g) = grads.remove(var) {
                    grads.insert(var, (g * coef)?);
                }
            }
        }
        Ok(norm)
    }

    /// A 64-bit FNV-1a hash of every variable's name and bytes, in name order:
    /// a cheap fingerprint for bit-identity checks.
    pub fn checksum(&self) -> Result<u64> {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for (name, var) in &self.named {
            eat(name.as_bytes());
            let values: Vec<f64> = var.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
            for v in values {
                eat(&v.to_le_bytes());
            }
        }
        Ok(h)
    }
}
