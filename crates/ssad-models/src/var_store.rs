//! [`SeededVarMap`]: the parameter store every network of this crate is built from.

use crate::error::{Error, Result};
use crate::init;
use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::{Init, VarBuilder};
use ssad_core::Seed;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Suffixes of the BatchNorm buffers: state that is saved but never trained.
const BUFFER_SUFFIXES: [&str; 3] = ["running_mean", "running_var", "num_batches_tracked"];

/// Whether `name` is a BatchNorm buffer (running statistics) rather than a trainable parameter.
pub fn is_buffer_name(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    BUFFER_SUFFIXES.contains(&last)
}

/// What [`SeededVarMap::load`] does with tensors in the file that the network does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraTensors {
    /// Fail with [`Error::UnexpectedTensors`].
    Reject,
    /// Skip them, e.g. the 1000-class `fc` of ImageNet weights loaded into a backbone without `fc`.
    Ignore,
}

/// A named store of candle [`Var`]s whose initial values come from `(seed, name)`.
///
/// Use it through [`SeededVarMap::var_builder`]: every parameter a network asks
/// for is created on the host, from a `ChaCha8Rng` keyed by the seed and the
/// parameter's full path, following the layer's [`Init`] hint. The same seed
/// gives bit-identical weights whatever the creation order or thread count.
/// Asking twice for a name returns the same variable (weight sharing).
///
/// Cloning is cheap and shares the variables.
#[derive(Clone, Debug)]
pub struct SeededVarMap {
    seed: Seed,
    vars: Arc<Mutex<BTreeMap<String, Var>>>,
}

impl SeededVarMap {
    /// An empty store drawing initial values from `seed`.
    pub fn new(seed: Seed) -> Self {
        Self {
            seed,
            vars: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// The seed the initial values come from.
    pub fn seed(&self) -> Seed {
        self.seed
    }

    /// A `VarBuilder` that creates its parameters in this store, on `device`, as `dtype`.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), dtype, device.clone())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Var>> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        self.vars.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every variable with its name, sorted by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every variable, BatchNorm buffers included, sorted by name.
    pub fn all_vars(&self) -> Vec<Var> {
        self.lock().values().cloned().collect()
    }

    /// The trainable variables with their names, sorted by name (BatchNorm running statistics excluded).
    pub fn named_trainable_vars(&self) -> Vec<(String, Var)> {
        self.lock()
            .iter()
            .filter(|(k, _)| !is_buffer_name(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The trainable variables sorted by name: what an optimiser should receive.
    pub fn trainable_vars(&self) -> Vec<Var> {
        self.named_trainable_vars()
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    /// The trainable variables whose names start with `prefix` followed by `.` (or equal it),
    /// sorted by name: e.g. only the head while the backbone is frozen.
    pub fn trainable_vars_under(&self, prefix: &str) -> Vec<Var> {
        self.lock()
            .iter()
            .filter(|(k, _)| !is_buffer_name(k))
            .filter(|(k, _)| {
                k.strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The variable called `name`, if any.
    pub fn get(&self, name: &str) -> Option<Var> {
        self.lock().get(name).cloned()
    }

    /// Number of variables, buffers included.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no variable has been created yet.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Number of trainable scalars (PyTorch's `sum(p.numel() for p in model.parameters())`).
    pub fn num_trainable_params(&self) -> usize {
        self.lock()
            .iter()
            .filter(|(k, _)| !is_buffer_name(k))
            .map(|(_, v)| v.elem_count())
            .sum()
    }

    /// A candle `VarMap` holding the same variables (shared, not copied), for APIs that want one.
    pub fn to_varmap(&self) -> candle_nn::VarMap {
        let map = candle_nn::VarMap::new();
        {
            let mut data = map.data().lock().unwrap_or_else(|e| e.into_inner());
            for (k, v) in self.lock().iter() {
                data.insert(k.clone(), v.clone());
            }
        }
        map
    }

    /// Writes every variable (buffers included) to a safetensors file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        // candle folds I/O failures into a generic safetensors error; surface them typed.
        std::fs::File::create(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let tensors: HashMap<String, Tensor> = self
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        candle_core::safetensors::save(&tensors, path).map_err(|e| match e {
            candle_core::Error::Io(source) => Error::Io {
                path: path.to_path_buf(),
                source,
            },
            other => Error::Candle(other),
        })
    }

    /// Sets every variable from a safetensors file, checking all of them first.
    ///
    /// Fails without changing anything when a variable is missing from the file
    /// or has another shape there, or (with [`ExtraTensors::Reject`]) when the
    /// file holds tensors the store lacks. `num_batches_tracked` entries, which
    /// PyTorch writes and candle does not use, are always skipped. Values are
    /// converted to each variable's dtype.
    pub fn load(&self, path: impl AsRef<Path>, extra: ExtraTensors) -> Result<()> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let vars = self.lock();
        let device = match vars.values().next() {
            Some(v) => v.device().clone(),
            None => Device::Cpu,
        };
        let file = candle_core::safetensors::load_buffer(&bytes, &device).map_err(|e| {
            Error::CorruptFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        })?;
        let missing: Vec<String> = vars
            .keys()
            .filter(|k| !file.contains_key(*k))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingTensors {
                path: path.to_path_buf(),
                names: missing,
            });
        }
        if extra == ExtraTensors::Reject {
            let mut unexpected: Vec<String> = file
                .keys()
                .filter(|k| !vars.contains_key(*k) && !k.ends_with("num_batches_tracked"))
                .cloned()
                .collect();
            if !unexpected.is_empty() {
                unexpected.sort();
                return Err(Error::UnexpectedTensors {
                    path: path.to_path_buf(),
                    names: unexpected,
                });
            }
        }
        let mut updates = Vec::with_capacity(vars.len());
        for (name, var) in vars.iter() {
            let t = &file[name];
            if t.dims() != var.dims() {
                return Err(Error::TensorShape {
                    name: name.clone(),
                    expected: var.dims().to_vec(),
                    got: t.dims().to_vec(),
                });
            }
            updates.push((var, t.to_dtype(var.dtype())?));
        }
        for (var, t) in updates {
            var.set(&t)?;
        }
        Ok(())
    }

    fn create(
        &self,
        shape: &Shape,
        name: &str,
        hint: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Var> {
        let values = init::sample(self.seed, name, shape.dims(), hint);
        let t = Tensor::from_vec(values, shape.clone(), &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(dev)?;
        Var::from_tensor(&t)
    }
}

impl candle_nn::var_builder::SimpleBackend for SeededVarMap {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut vars = self.lock();
        if let Some(v) = vars.get(name) {
            if v.shape() != &s {
                candle_core::bail!(
                    "parameter {name} requested with shape {s:?} but exists with {:?}",
                    v.shape()
                );
            }
            return Ok(v.as_tensor().clone());
        }
        let var = self.create(&s, name, h, dtype, dev)?;
        let t = var.as_tensor().clone();
        vars.insert(name.to_string(), var);
        Ok(t)
    }

    fn get_unchecked(
        &self,
        name: &str,
        _dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        match self.lock().get(name) {
            Some(v) => Ok(v.as_tensor().clone()),
            None => {
                candle_core::bail!("parameter {name} does not exist and has no shape to create it")
            }
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }
}
