//! Saving and loading fitted scorers.
//!
//! A fitted scorer exports its [`State`]: its [`ScorerConfig`] plus named
//! `f32`/`f64`/`u32` arrays. [`save`] writes the arrays to `scorer.safetensors`
//! and the config to `scorer.json`; [`load`] reads both back and rebuilds the
//! scorer through [`ScorerConfig::restore`], giving bit-identical scores.
//!
//! Each file is written to a temporary name and renamed, so a crash never leaves
//! a half-written file under the final name. The config is also stored in the
//! safetensors header, so a `scorer.json` that does not belong to its
//! `scorer.safetensors` is detected instead of silently mis-loaded.
//!
//! # Implementing persistence for a new scorer
//!
//! 1. Implement [`FittedScorer::state`]: `State::new(config)` then `put_*` each array.
//! 2. Add a `from_state(config, &mut State) -> Result<Self>` constructor that `take_*`s them back.
//! 3. Add the arm to [`ScorerConfig::restore`].

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use ssad_core::Matrix;

use crate::{Error, FittedScorer, Result, ScorerConfig};

/// File name of the arrays inside a saved-scorer directory.
pub const ARRAYS_FILE: &str = "scorer.safetensors";
/// File name of the config inside a saved-scorer directory.
pub const CONFIG_FILE: &str = "scorer.json";

const FORMAT: &str = "ssad-scorer";
const FORMAT_VERSION: u32 = 1;
const HEADER_CONFIG_KEY: &str = "ssad_config";

/// One named array of a fitted scorer's state.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    /// Single-precision values (feature matrices).
    F32(Vec<f32>),
    /// Double-precision values (statistics where precision matters).
    F64(Vec<f64>),
    /// Indices and counts.
    U32(Vec<u32>),
}

impl ArrayData {
    fn len(&self) -> usize {
        match self {
            ArrayData::F32(v) => v.len(),
            ArrayData::F64(v) => v.len(),
            ArrayData::U32(v) => v.len(),
        }
    }

    fn dtype(&self) -> Dtype {
        match self {
            ArrayData::F32(_) => Dtype::F32,
            ArrayData::F64(_) => Dtype::F64,
            ArrayData::U32(_) => Dtype::U32,
        }
    }

    fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            ArrayData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ArrayData::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ArrayData::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    fn from_view(name: &str, view: &TensorView<'_>) -> Result<Self> {
        let bytes = view.data();
        Ok(match view.dtype() {
            Dtype::F32 => ArrayData::F32(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            Dtype::F64 => ArrayData::F64(
                bytes
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
            Dtype::U32 => ArrayData::U32(
                bytes
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            other => {
                return Err(Error::Corrupt(format!(
                    "array `{name}` has unsupported dtype {other:?}"
                )))
            }
        })
    }
}

/// An array with its shape.
#[derive(Debug, Clone, PartialEq)]
struct Array {
    shape: Vec<usize>,
    data: ArrayData,
}

/// The complete fitted state of a scorer: its config and its named arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    config: ScorerConfig,
    arrays: BTreeMap<String, Array>,
}

impl State {
    /// An empty state for a scorer fitted with `config`.
    pub fn new(config: impl Into<ScorerConfig>) -> Self {
        Self {
            config: config.into(),
            arrays: BTreeMap::new(),
        }
    }

    /// The config the scorer was fitted with.
    pub fn config(&self) -> &ScorerConfig {
        &self.config
    }

    /// Names of the stored arrays, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.arrays.keys().map(String::as_str)
    }

    fn put(&mut self, name: &str, shape: &[usize], data: ArrayData) -> Result<&mut Self> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(Error::Corrupt(format!(
                "array `{name}` has {} values but shape {shape:?}",
                data.len()
            )));
        }
        self.arrays.insert(
            name.to_owned(),
            Array {
                shape: shape.to_vec(),
                data,
            },
        );
        Ok(self)
    }

    /// Stores an `f32` array; errors if `shape` does not match `data.len()`.
    pub fn put_f32(&mut self, name: &str, shape: &[usize], data: Vec<f32>) -> Result<&mut Self> {
        self.put(name, shape, ArrayData::F32(data))
    }

    /// Stores an `f64` array; errors if `shape` does not match `data.len()`.
    pub fn put_f64(&mut self, name: &str, shape: &[usize], data: Vec<f64>) -> Result<&mut Self> {
        self.put(name, shape, ArrayData::F64(data))
    }

    /// Stores a `u32` array; errors if `shape` does not match `data.len()`.
    pub fn put_u32(&mut self, name: &str, shape: &[usize], data: Vec<u32>) -> Result<&mut Self> {
        self.put(name, shape, ArrayData::U32(data))
    }

    /// Stores a matrix as a 2-D `f32` array.
    pub fn put_matrix(&mut self, name: &str, m: &Matrix) -> Result<&mut Self> {
        self.put_f32(name, &[m.rows(), m.cols()], m.as_slice().to_vec())
    }

    fn take(&mut self, name: &str) -> Result<Array> {
        self.arrays
            .remove(name)
            .ok_or_else(|| Error::Corrupt(format!("array `{name}` is missing")))
    }

    fn wrong_type(name: &str, want: &str) -> Error {
        Error::Corrupt(format!("array `{name}` is not {want}"))
    }

    /// Removes and returns an `f32` array with its shape.
    pub fn take_f32(&mut self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        match self.take(name)? {
            Array {
                shape,
                data: ArrayData::F32(v),
            } => Ok((shape, v)),
            _ => Err(Self::wrong_type(name, "f32")),
        }
    }

    /// Removes and returns an `f64` array with its shape.
    pub fn take_f64(&mut self, name: &str) -> Result<(Vec<usize>, Vec<f64>)> {
        match self.take(name)? {
            Array {
                shape,
                data: ArrayData::F64(v),
            } => Ok((shape, v)),
            _ => Err(Self::wrong_type(name, "f64")),
        }
    }

    /// Removes and returns a `u32` array with its shape.
    pub fn take_u32(&mut self, name: &str) -> Result<(Vec<usize>, Vec<u32>)> {
        match self.take(name)? {
            Array {
                shape,
                data: ArrayData::U32(v),
            } => Ok((shape, v)),
            _ => Err(Self::wrong_type(name, "u32")),
        }
    }

    /// Removes and returns a 2-D `f32` array as a matrix.
    pub fn take_matrix(&mut self, name: &str) -> Result<Matrix> {
        let (shape, data) = self.take_f32(name)?;
        match shape[..] {
            [rows, cols] => {
                Matrix::new(data, rows, cols).map_err(|e| Error::Corrupt(e.to_string()))
            }
            _ => Err(Error::Corrupt(format!(
                "array `{name}` has shape {shape:?}, expected 2-D"
            ))),
        }
    }

    /// Removes and returns a one-value `f64` array.
    pub fn take_scalar(&mut self, name: &str) -> Result<f64> {
        match self.take_f64(name)?.1[..] {
            [v] => Ok(v),
            _ => Err(Error::Corrupt(format!("array `{name}` is not a scalar"))),
        }
    }

    /// Stores a one-value `f64` array.
    pub fn put_scalar(&mut self, name: &str, value: f64) -> Result<&mut Self> {
        self.put_f64(name, &[1], vec![value])
    }
}

/// What `scorer.json` holds.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    format: String,
    version: u32,
    config: ScorerConfig,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `dir/name` via a temporary file and a rename.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let final_path = dir.join(name);
    let tmp_path: PathBuf = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = fs::File::create(&tmp_path).map_err(io_err(&tmp_path))?;
        f.write_all(bytes).map_err(io_err(&tmp_path))?;
        f.sync_all().map_err(io_err(&tmp_path))?;
    }
    fs::rename(&tmp_path, &final_path).map_err(io_err(&final_path))
}

/// Saves a fitted scorer into `dir` (created if missing) as
/// [`ARRAYS_FILE`] + [`CONFIG_FILE`].
pub fn save(scorer: &dyn FittedScorer, dir: &Path) -> Result<()> {
    save_state(&scorer.state()?, dir)
}

/// Saves an exported [`State`] into `dir` (created if missing).
pub fn save_state(state: &State, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let config_json = serde_json::to_string(&state.config)
        .map_err(|e| Error::Corrupt(format!("cannot serialize config: {e}")))?;
    let bytes: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = state
        .arrays
        .iter()
        .map(|(name, a)| {
            (
                name.clone(),
                a.shape.clone(),
                a.data.dtype(),
                a.data.to_le_bytes(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, dtype, data)| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|v| (name.as_str(), v))
                .map_err(|e| Error::Corrupt(format!("array `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let header = HashMap::from([(HEADER_CONFIG_KEY.to_owned(), config_json)]);
    let arrays = safetensors::serialize(views, Some(header))
        .map_err(|e| Error::Corrupt(format!("cannot serialize arrays: {e}")))?;
    let file = ConfigFile {
        format: FORMAT.to_owned(),
        version: FORMAT_VERSION,
        config: state.config.clone(),
    };
    let json = serde_json::to_vec_pretty(&file)
        .map_err(|e| Error::Corrupt(format!("cannot serialize config: {e}")))?;
    write_atomic(dir, ARRAYS_FILE, &arrays)?;
    write_atomic(dir, CONFIG_FILE, &json)
}

/// Reads the [`State`] saved in `dir` without rebuilding the scorer.
pub fn load_state(dir: &Path) -> Result<State> {
    let json_path = dir.join(CONFIG_FILE);
    let json = fs::read(&json_path).map_err(io_err(&json_path))?;
    let file: ConfigFile = serde_json::from_slice(&json)
        .map_err(|e| Error::Corrupt(format!("{}: {e}", json_path.display())))?;
    if file.format != FORMAT || file.version != FORMAT_VERSION {
        return Err(Error::Corrupt(format!(
            "{}: format {} v{} is not {FORMAT} v{FORMAT_VERSION}",
            json_path.display(),
            file.format,
            file.version
        )));
    }
    let arrays_path = dir.join(ARRAYS_FILE);
    let bytes = fs::read(&arrays_path).map_err(io_err(&arrays_path))?;
    let corrupt =
        |e: &dyn std::fmt::Display| Error::Corrupt(format!("{}: {e}", arrays_path.display()));
    let (_, metadata) = SafeTensors::read_metadata(&bytes).map_err(|e| corrupt(&e))?;
    let header_config: ScorerConfig = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(HEADER_CONFIG_KEY))
        .ok_or_else(|| corrupt(&"no config in header"))
        .and_then(|s| serde_json::from_str(s).map_err(|e| corrupt(&e)))?;
    if header_config != file.config {
        return Err(corrupt(&format!("arrays do not belong to {CONFIG_FILE}")));
    }
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| corrupt(&e))?;
    let mut state = State::new(file.config);
    for (name, view) in tensors.tensors() {
        let data = ArrayData::from_view(&name, &view)?;
        state.put(&name, view.shape(), data)?;
    }
    Ok(state)
}

/// Loads a scorer saved by [`save`].
pub fn load(dir: &Path) -> Result<Box<dyn FittedScorer>> {
    let state = load_state(dir)?;
    state.config.clone().restore(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KnnConfig;

    #[test]
    fn put_rejects_shape_mismatch() {
        let mut s = State::new(KnnConfig::default());
        assert!(s.put_f32("a", &[2, 2], vec![0.0; 3]).is_err());
    }

    #[test]
    fn take_checks_presence_and_type() {
        let mut s = State::new(KnnConfig::default());
        s.put_u32("n", &[2], vec![1, 2]).unwrap();
        assert!(matches!(s.take_f32("n"), Err(Error::Corrupt(_))));
        assert!(matches!(s.take_u32("missing"), Err(Error::Corrupt(_))));
    }

    #[test]
    fn state_round_trips_through_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::new(KnnConfig::default());
        s.put_f32("x", &[2, 1], vec![1.5, -2.0])
            .unwrap()
            .put_f64("m", &[3], vec![0.1, f64::MAX, -0.0])
            .unwrap()
            .put_u32("i", &[0], vec![])
            .unwrap();
        save_state(&s, dir.path()).unwrap();
        assert_eq!(load_state(dir.path()).unwrap(), s);
    }

    #[test]
    fn missing_and_corrupt_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load(dir.path()), Err(Error::Io { .. })));
        let mut s = State::new(KnnConfig::default());
        s.put_scalar("v", 1.0).unwrap();
        save_state(&s, dir.path()).unwrap();
        fs::write(dir.path().join(ARRAYS_FILE), b"garbage").unwrap();
        assert!(matches!(load(dir.path()), Err(Error::Corrupt(_))));
        fs::write(dir.path().join(CONFIG_FILE), b"{").unwrap();
        assert!(matches!(load(dir.path()), Err(Error::Corrupt(_))));
    }

    #[test]
    fn mismatched_config_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::new(KnnConfig::default());
        s.put_scalar("v", 1.0).unwrap();
        save_state(&s, dir.path()).unwrap();
        let other = KnnConfig {
            n_neighbors: 9,
            ..KnnConfig::default()
        };
        let file = ConfigFile {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            config: other.into(),
        };
        fs::write(
            dir.path().join(CONFIG_FILE),
            serde_json::to_vec(&file).unwrap(),
        )
        .unwrap();
        assert!(matches!(load_state(dir.path()), Err(Error::Corrupt(_))));
    }
}
