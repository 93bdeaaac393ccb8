//! Finding, verifying and installing the files that the manifests describe.
//!
//! Files live under a *data root*: `SSAD_DATA_DIR`, unless a caller (such as
//! `cargo xtask data --data-dir`) passes another. A manifest may name a fallback folder
//! (Fashion-MNIST's Debian package installs into `/usr/share/datasets/fashion-mnist`).
//! A file that is present but whose size or sha256 differs from its manifest is an
//! error, never a warning.
//!
//! ```
//! use std::path::Path;
//! use ssad_data::manifest::Manifest;
//! use ssad_data::registry::{self, Installed};
//!
//! let manifest = Manifest::from_toml_str(r#"
//!     name = "demo"
//!     format = "npz"
//!     description = "one greeting"
//!     license = "CC0"
//!     citation = "none"
//!     protocol = "none"
//!     obtain = "write it yourself"
//!     [source]
//!     [[files]]
//!     path = "demo/hello.txt"
//!     format = "text"
//!     sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
//!     size = 5
//! "#, Path::new("demo.toml"))?;
//! let root = tempfile::tempdir()?;
//! let file = &manifest.files[0];
//! let dest = registry::path_under(root.path(), file);
//!
//! // Wrong bytes never reach their final name.
//! assert!(registry::install(file, &dest, &mut &b"jello"[..]).is_err());
//! assert!(!dest.exists());
//!
//! assert_eq!(registry::install(file, &dest, &mut &b"hello"[..])?, Installed::Written);
//! assert_eq!(registry::verify(&manifest, root.path())?, vec![dest]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::formats::{self, Labeled};
use crate::manifest::{DatasetFormat, FileEntry, FileFormat, Manifest};

/// The environment variable naming the data root.
pub const DATA_DIR_ENV: &str = "SSAD_DATA_DIR";

/// Read size for hashing and copying: large enough that syscalls do not dominate.
const CHUNK: usize = 1 << 20;

/// The data root from [`DATA_DIR_ENV`], if it is set and not empty.
pub fn data_dir_from_env() -> Option<PathBuf> {
    std::env::var_os(DATA_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Every manifest of a `datasets/` folder, sorted by name.
#[derive(Debug, Clone)]
pub struct Registry {
    manifests: Vec<Manifest>,
}

impl Registry {
    /// Reads every `*.toml` under `dir` (recursively). Fails on the first invalid
    /// manifest and on two manifests with the same name.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let mut files = Vec::new();
        collect_toml(dir, &mut files)?;
        let mut manifests = files
            .iter()
            .map(|p| Manifest::from_file(p))
            .collect::<Result<Vec<_>>>()?;
        manifests.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = manifests.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(Error::Manifest {
                path: dir.to_path_buf(),
                reason: format!("two manifests are named `{}`", pair[0].name),
            });
        }
        Ok(Registry { manifests })
    }

    /// All manifests, sorted by name.
    pub fn manifests(&self) -> &[Manifest] {
        &self.manifests
    }

    /// The manifest named `name`.
    pub fn get(&self, name: &str) -> Result<&Manifest> {
        self.manifests
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| Error::UnknownDataset {
                name: name.to_string(),
                known: self
                    .manifests
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Where `file` would be under `root`, whether or not it exists.
pub fn path_under(root: &Path, file: &FileEntry) -> PathBuf {
    file.path
        .split('/')
        .fold(root.to_path_buf(), |p, c| p.join(c))
}

/// The existing path of `file`: under `root`, else in the manifest's fallback folder.
///
/// The error lists every path tried and how to obtain the file.
pub fn locate(manifest: &Manifest, file: &FileEntry, root: &Path) -> Result<PathBuf> {
    let mut searched = vec![path_under(root, file)];
    if let Some(dir) = &manifest.fallback_dir {
        searched.push(dir.join(file.file_name()));
    }
    match searched.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(Error::MissingFile {
            dataset: manifest.name.clone(),
            file: file.path.clone(),
            searched,
            obtain: manifest.how_to_obtain(),
        }),
    }
}

/// Lower-case hex sha256 of the file at `path`, read in large chunks.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = read_some(&mut f, &mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Checks that the file at `path` has `file`'s size and sha256.
pub fn verify_file(file: &FileEntry, path: &Path) -> Result<()> {
    let actual = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if actual != file.size {
        return Err(Error::SizeMismatch {
            path: path.to_path_buf(),
            expected: file.size,
            actual,
        });
    }
    let digest = sha256_file(path)?;
    if digest != file.sha256 {
        return Err(Error::ChecksumMismatch {
            path: path.to_path_buf(),
            expected: file.sha256.clone(),
            actual: digest,
        });
    }
    Ok(())
}

/// Locates and verifies every file of `manifest`; returns their paths in manifest order.
pub fn verify(manifest: &Manifest, root: &Path) -> Result<Vec<PathBuf>> {
    manifest
        .files
        .iter()
        .map(|file| {
            let path = locate(manifest, file, root)?;
            verify_file(file, &path)?;
            Ok(path)
        })
        .collect()
}

/// What [`install`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Installed {
    /// The bytes were written and verified.
    Written,
    /// A verified file was already there; nothing was read from the source.
    AlreadyPresent,
}

/// Writes the bytes of `source` to `dest`, which must end up holding exactly `file`.
///
/// The bytes go to a temporary file beside `dest` that is renamed only once its size and
/// sha256 are right, so `dest` never holds a partial or wrong file; on any error the
/// temporary file is removed. A good file already at `dest` is kept and `source` is not
/// read; a bad one is an error (it is left for the user to inspect and delete).
pub fn install(file: &FileEntry, dest: &Path, source: &mut dyn Read) -> Result<Installed> {
    if dest.exists() {
        verify_file(file, dest)?;
        return Ok(Installed::AlreadyPresent);
    }
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = read_some(source, &mut buf).map_err(|e| Error::io(dest, e))?;
        if n == 0 {
            break;
        }
        written += n as u64;
        // Stop early rather than fill the disk when a server sends far too much.
        if written > file.size {
            return Err(Error::SizeMismatch {
                path: dest.to_path_buf(),
                expected: file.size,
                actual: written,
            });
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(|e| Error::io(tmp.path(), e))?;
    }
    if written != file.size {
        return Err(Error::SizeMismatch {
            path: dest.to_path_buf(),
            expected: file.size,
            actual: written,
        });
    }
    let digest = format!("{:x}", hasher.finalize());
    if digest != file.sha256 {
        return Err(Error::ChecksumMismatch {
            path: dest.to_path_buf(),
            expected: file.sha256.clone(),
            actual: digest,
        });
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    // No-clobber: if another process installed the file meanwhile, keep theirs.
    tmp.persist_noclobber(dest)
        .map_err(|e| Error::io(dest, e.error))?;
    Ok(Installed::Written)
}

/// `read`, retrying on `Interrupted`.
fn read_some(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// What a dataset holds once read: the figures `cargo xtask data check` compares with
/// the manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Contents {
    /// A labelled feature matrix (npz, mat).
    Tabular {
        /// Samples.
        rows: usize,
        /// Features.
        cols: usize,
        /// Samples labelled anomalous.
        anomalies: usize,
    },
    /// KDD Cup 99: one-hot encoded matrix and the raw label of every row.
    Kdd {
        /// Rows.
        rows: usize,
        /// Columns after one-hot encoding the symbolic fields.
        cols: usize,
        /// Rows per label, keyed as written in the file (e.g. `normal.`).
        label_counts: BTreeMap<String, usize>,
    },
    /// An image set with a train and a test part.
    Images {
        /// Training images.
        train: usize,
        /// Test images.
        test: usize,
        /// The shape of one image, where the manifest records it.
        image_shape: Option<Vec<usize>>,
        /// Anomalous test images, for anomaly-detection sets.
        anomalies: Option<usize>,
        /// Ground-truth masks, for sets that have them.
        masks: Option<usize>,
    },
}

impl std::fmt::Display for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Contents::Tabular {
                rows,
                cols,
                anomalies,
            } => write!(f, "{rows} x {cols}, {anomalies} anomalies"),
            Contents::Kdd {
                rows,
                cols,
                label_counts,
            } => write!(
                f,
                "{rows} x {cols} (one-hot), {} labels, {} `normal.` rows",
                label_counts.len(),
                label_counts.get("normal.").copied().unwrap_or(0)
            ),
            Contents::Images {
                train,
                test,
                image_shape,
                anomalies,
                masks,
            } => {
                write!(f, "train {train}, test {test} images")?;
                if let Some(shape) = image_shape {
                    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
                    write!(f, " of {}", dims.join("x"))?;
                }
                if let Some(a) = anomalies {
                    write!(f, ", {a} anomalous")?;
                }
                if let Some(k) = masks {
                    write!(f, ", {k} masks")?;
                }
                Ok(())
            }
        }
    }
}

/// The outcome of a successful [`check`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// The dataset's name.
    pub name: String,
    /// Files verified.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// What the files hold, equal to what the manifest says.
    pub contents: Contents,
}

/// What the manifest says the dataset holds, or `None` when it records too little to
/// say; [`check`] then verifies the checksums and reads the files without comparing.
pub fn expected_contents(manifest: &Manifest) -> Option<Contents> {
    let shape_of = |format: FileFormat| {
        manifest
            .files
            .iter()
            .find(|f| f.format == format)
            .and_then(|f| f.shape.clone())
    };
    let e = &manifest.expect;
    match manifest.format {
        DatasetFormat::Npz | DatasetFormat::Mat => {
            let file = manifest.files.first()?;
            match (file.shape.as_deref(), file.anomalies) {
                (Some(&[rows, cols]), Some(anomalies)) => Some(Contents::Tabular {
                    rows,
                    cols,
                    anomalies,
                }),
                _ => None,
            }
        }
        DatasetFormat::Kdd => match (shape_of(FileFormat::CsvGz).as_deref(), &e.label_counts) {
            (Some(&[rows, cols]), Some(counts)) => Some(Contents::Kdd {
                rows,
                cols,
                label_counts: counts.clone(),
            }),
            _ => None,
        },
        DatasetFormat::Mvtec => Some(Contents::Images {
            train: e.train?,
            test: e.test?,
            image_shape: None,
            anomalies: e.anomalies,
            masks: e.masks,
        }),
        DatasetFormat::Idx => Some(Contents::Images {
            train: e.train?,
            test: e.test?,
            image_shape: shape_of(FileFormat::IdxGz).map(|s| s.get(1..).unwrap_or(&[]).to_vec()),
            anomalies: None,
            masks: None,
        }),
    }
}

/// Checks a dataset end to end: every file is found and has its manifest's size and
/// sha256, and the files, once read, hold what the manifest says.
pub fn check(manifest: &Manifest, root: &Path) -> Result<Report> {
    let paths = verify(manifest, root)?;
    let contents = inspect(manifest, &paths)?;
    if let Some(expected) = expected_contents(manifest) {
        if contents != expected {
            return Err(Error::ContentMismatch {
                dataset: manifest.name.clone(),
                what: format!("holds {contents}; the manifest says {expected}"),
            });
        }
    }
    Ok(Report {
        name: manifest.name.clone(),
        files: paths.len(),
        bytes: manifest.files.iter().map(|f| f.size).sum(),
        contents,
    })
}

/// Reads the verified files of `manifest` (in manifest order, as [`verify`] returns them)
/// and reports what they hold.
pub fn inspect(manifest: &Manifest, paths: &[PathBuf]) -> Result<Contents> {
    let path_of = |format: FileFormat| -> Result<&Path> {
        manifest
            .files
            .iter()
            .zip(paths)
            .find(|(f, _)| f.format == format)
            .map(|(_, p)| p.as_path())
            .ok_or_else(|| Error::Manifest {
                path: PathBuf::from(&manifest.name),
                reason: format!("a {:?} dataset needs a {format:?} file", manifest.format),
            })
    };
    match manifest.format {
        DatasetFormat::Npz => tabular(&formats::read_npz_xy(path_of(FileFormat::Npz)?)?),
        DatasetFormat::Mat => tabular(&formats::read_mat_xy(path_of(FileFormat::Mat)?)?),
        DatasetFormat::Kdd => {
            let kdd = formats::read_kdd(path_of(FileFormat::CsvGz)?)?;
            let mut counts = vec![0usize; kdd.label_names.len()];
            for &label in &kdd.labels {
                if let Some(c) = counts.get_mut(usize::from(label)) {
                    *c += 1;
                }
            }
            Ok(Contents::Kdd {
                rows: kdd.x.rows(),
                cols: kdd.x.cols(),
                label_counts: kdd.label_names.iter().cloned().zip(counts).collect(),
            })
        }
        DatasetFormat::Mvtec => {
            let category = formats::MvtecCategory::open(category_root(manifest, paths)?)?;
            Ok(Contents::Images {
                train: category.train.len(),
                test: category.test.len(),
                image_shape: None,
                anomalies: Some(category.test.iter().filter(|s| s.is_anomaly()).count()),
                masks: Some(category.test.iter().filter(|s| s.mask.is_some()).count()),
            })
        }
        DatasetFormat::Idx => {
            // MNIST's file naming: `train-`/`t10k-` prefix, `-images-`/`-labels-` inside.
            let find = |prefix: &str, kind: &str| -> Result<&Path> {
                manifest
                    .files
                    .iter()
                    .zip(paths)
                    .find(|(f, _)| {
                        let name = f.file_name();
                        name.starts_with(prefix) && name.contains(kind)
                    })
                    .map(|(_, p)| p.as_path())
                    .ok_or_else(|| Error::Manifest {
                        path: PathBuf::from(&manifest.name),
                        reason: format!("no `{prefix}*{kind}*` file among the [[files]]"),
                    })
            };
            let train =
                formats::read_idx(find("train-", "-images-")?, find("train-", "-labels-")?)?;
            let test = formats::read_idx(find("t10k-", "-images-")?, find("t10k-", "-labels-")?)?;
            let image_shape = if train.channels() == 1 {
                vec![train.height(), train.width()]
            } else {
                vec![train.channels(), train.height(), train.width()]
            };
            Ok(Contents::Images {
                train: train.len(),
                test: test.len(),
                image_shape: Some(image_shape),
                anomalies: None,
                masks: None,
            })
        }
    }
}

/// The folder holding all of a dataset's files: their longest common relative prefix,
/// resolved through where the first file was actually found.
fn category_root(manifest: &Manifest, paths: &[PathBuf]) -> Result<PathBuf> {
    fn split(p: &str) -> Vec<&str> {
        p.split('/').collect()
    }
    let first = split(&manifest.files[0].path);
    let common = manifest.files.iter().fold(first.len() - 1, |n, f| {
        let other = split(&f.path);
        first
            .iter()
            .zip(&other[..other.len() - 1])
            .take(n)
            .take_while(|(a, b)| a == b)
            .count()
    });
    paths
        .first()
        .and_then(|p| p.ancestors().nth(first.len() - common))
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::Manifest {
            path: PathBuf::from(&manifest.name),
            reason: "the files share no folder".into(),
        })
}

fn tabular(data: &Labeled) -> Result<Contents> {
    Ok(Contents::Tabular {
        rows: data.x.rows(),
        cols: data.x.cols(),
        anomalies: data.n_anomalies(),
    })
}
