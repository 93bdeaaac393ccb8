//! Checkpoints: model variables, optimizer moments, objective state and the
//! epoch counter, written atomically (a temporary directory, then a rename).
//!
//! The epoch counter is the whole RNG position: shuffling and augmentation
//! draw from `(seed, epoch, index)` streams, so nothing else needs saving.

use crate::params::ParamSet;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const MODEL_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const OBJECTIVE_FILE: &str = "objective.safetensors";
const STATE_FILE: &str = "state.json";
const PREFIX: &str = "epoch-";

/// The scalar part of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckpointState {
    /// Epochs completed; training resumes at this epoch.
    pub epochs_done: usize,
    /// Optimizer steps taken (Adam's bias correction needs it).
    pub optimizer_steps: u64,
    /// The settings that define the trajectory, to refuse resuming a different run.
    pub trajectory: serde_json::Value,
}

/// What a checkpoint holds once loaded.
pub(crate) struct Loaded {
    pub state: CheckpointState,
    pub model: HashMap<String, Tensor>,
    pub optimizer: HashMap<String, Tensor>,
    pub objective: HashMap<String, Tensor>,
}

fn dir_name(epochs_done: usize) -> String {
    format!("{PREFIX}{epochs_done:06}")
}

fn save_tensors(named: Vec<(String, Tensor)>, path: &Path) -> Result<()> {
    let map: HashMap<String, Tensor> = named.into_iter().collect();
    candle_core::safetensors::save(&map, path)?;
    Ok(())
}

/// Writes `checkpoints/epoch-NNNNNN/` under `run_dir`; a crash leaves at most a
/// `.tmp` directory, never a half-written checkpoint.
pub(crate) fn save(
    run_dir: &Path,
    state: &CheckpointState,
    model: &ParamSet,
    optimizer: Vec<(String, Tensor)>,
    objective: Vec<(String, Tensor)>,
) -> Result<PathBuf> {
    let root = run_dir.join("checkpoints");
    std::fs::create_dir_all(&root).map_err(Error::io(&root))?;
    let final_dir = root.join(dir_name(state.epochs_done));
    let tmp = root.join(format!("{}.tmp", dir_name(state.epochs_done)));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(Error::io(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(Error::io(&tmp))?;
    let model_tensors = model
        .named()
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    save_tensors(model_tensors, &tmp.join(MODEL_FILE))?;
    save_tensors(optimizer, &tmp.join(OPTIMIZER_FILE))?;
    save_tensors(objective, &tmp.join(OBJECTIVE_FILE))?;
    let json = serde_json::to_string_pretty(state).map_err(|e| Error::Checkpoint {
        path: tmp.clone(),
        reason: e.to_string(),
    })?;
    let state_path = tmp.join(STATE_FILE);
    std::fs::write(&state_path, json).map_err(Error::io(&state_path))?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(Error::io(&final_dir))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(Error::io(&final_dir))?;
    Ok(final_dir)
}

/// The checkpoint with the most completed epochs under `run_dir`, if any.
pub fn latest(run_dir: &Path) -> Result<Option<PathBuf>> {
    let root = run_dir.join("checkpoints");
    if !root.exists() {
        return Ok(None);
    }
    let mut best: Option<(usize, PathBuf)> = None;
    for entry in std::fs::read_dir(&root).map_err(Error::io(&root))? {
        let entry = entry.map_err(Error::io(&root))?;
        let name = entry.file_name();
        let Some(epochs) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue; // temporary or foreign entries
        };
        if best.as_ref().is_none_or(|(b, _)| epochs > *b) {
            best = Some((epochs, entry.path()));
        }
    }
    Ok(best.map(|(_, p)| p))
}

pub(crate) fn load(dir: &Path) -> Result<Loaded> {
    let corrupt = |reason: String| Error::Checkpoint {
        path: dir.to_path_buf(),
        reason,
    };
    let state_path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&state_path).map_err(Error::io(&state_path))?;
    let state: CheckpointState =
        serde_json::from_str(&text).map_err(|e| corrupt(format!("{STATE_FILE}: {e}")))?;
    let read = |file: &str| {
        candle_core::safetensors::load(dir.join(file), &Device::Cpu)
            .map_err(|e| corrupt(format!("{file}: {e}")))
    };
    Ok(Loaded {
        state,
        model: read(MODEL_FILE)?,
        optimizer: read(OPTIMIZER_FILE)?,
        objective: read(OBJECTIVE_FILE)?,
    })
}

/// Sets every variable of `model` from `tensors`; the names and shapes must match exactly.
pub(crate) fn restore_vars(
    dir: &Path,
    model: &ParamSet,
    tensors: &HashMap<String, Tensor>,
) -> Result<()> {
    let corrupt = |reason: String| Error::Checkpoint {
        path: dir.to_path_buf(),
        reason,
    };
    if tensors.len() != model.len() {
        return Err(corrupt(format!(
            "holds {} model tensors, the model has {} variables",
            tensors.len(),
            model.len()
        )));
    }
    // Check everything before setting anything, so a mismatch leaves the model untouched.
    for (name, var) in model.named() {
        let t = tensors
            .get(name)
            .ok_or_else(|| corrupt(format!("variable {name} is missing")))?;
        if t.dims() != var.dims() {
            return Err(corrupt(format!(
                "{name} has shape {:?} in the checkpoint, {:?} in the model",
                t.dims(),
                var.dims()
            )));
        }
    }
    for (name, var) in model.named() {
        let t = &tensors[name];
        var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
    }
    Ok(())
}
