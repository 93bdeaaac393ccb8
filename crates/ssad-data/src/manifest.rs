//! Dataset manifests: what files a dataset has, their checksums and what they contain.
//!
//! One TOML file per dataset lives in the workspace's `datasets/` folder (generated
//! by `datasets/make_manifests.py`). Every struct denies unknown keys, so a typo in a
//! manifest is an error that names the key rather than a silently ignored field.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a whole dataset is read, which decides what [`crate::registry::inspect`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DatasetFormat {
    /// One `.npz` with members `X` (n×d) and `y` (n), `y == 1` = anomaly.
    Npz,
    /// One MATLAB v5 `.mat` with variables `X` and `y`, `y == 1` = anomaly.
    Mat,
    /// The KDD Cup 1999 gzip CSV plus its `kddcup.names`.
    Kdd,
    /// An MVTec AD category folder (`train/`, `test/`, `ground_truth/`).
    Mvtec,
    /// Gzip IDX image and label files (Fashion-MNIST layout).
    Idx,
}

/// The encoding of one file of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FileFormat {
    /// NumPy `.npz` (zip of `.npy`).
    Npz,
    /// MATLAB level-5 `.mat`.
    Mat,
    /// Gzip-compressed comma-separated text.
    CsvGz,
    /// Plain text (licences, column descriptions).
    Text,
    /// A PNG image.
    Png,
    /// Gzip-compressed IDX array.
    IdxGz,
}

/// Where a dataset comes from: a repository at a commit, or a distribution package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Source {
    /// GitHub `owner/name` of the upstream repository.
    pub repo: Option<String>,
    /// The upstream commit the files were taken from.
    pub commit: Option<String>,
    /// The path inside the upstream repository.
    pub path: Option<String>,
    /// The distribution package that ships the files.
    pub package: Option<String>,
    /// The package version the checksums were taken from.
    pub version: Option<String>,
    /// The project the package repackages.
    pub upstream: Option<String>,
}

/// Dataset-level facts that no single file carries (image counts, label counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// Training images.
    pub train: Option<usize>,
    /// Test images.
    pub test: Option<usize>,
    /// Anomalous test images.
    pub anomalies: Option<usize>,
    /// Ground-truth masks.
    pub masks: Option<usize>,
    /// Rows per label value (KDD), keyed by the label exactly as written in the file.
    pub label_counts: Option<BTreeMap<String, usize>>,
}

/// One file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path relative to the data root, with `/` separators.
    pub path: String,
    /// How the file is encoded.
    pub format: FileFormat,
    /// Lower-case hex sha256 of the file's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Where the exact same bytes can be downloaded, when they can.
    #[serde(default)]
    pub url: Option<String>,
    /// The array shape the file holds once read (rows first).
    #[serde(default)]
    pub shape: Option<Vec<usize>>,
    /// Rows labelled anomalous.
    #[serde(default)]
    pub anomalies: Option<usize>,
}

impl FileEntry {
    /// The file's last path component, used to look it up in a fallback folder.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Everything the workspace knows about one dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Unique name, e.g. `adbench/38_thyroid`.
    pub name: String,
    /// How the dataset as a whole is read.
    pub format: DatasetFormat,
    /// An optional dataset's absence is reported but is not a failure.
    #[serde(default)]
    pub optional: bool,
    /// One or two sentences on what the data are.
    pub description: String,
    /// What the labels mean.
    #[serde(default)]
    pub labels: Option<String>,
    /// The licence the data are under.
    pub license: String,
    /// What to cite when using the data.
    pub citation: String,
    /// The evaluation protocol(s) the data are used with, in words.
    pub protocol: String,
    /// How to obtain the files when they cannot simply be fetched from their URLs.
    #[serde(default)]
    pub obtain: Option<String>,
    /// A folder searched (by file name) when a file is not under the data root, such as
    /// the install folder of a distribution package.
    #[serde(default)]
    pub fallback_dir: Option<PathBuf>,
    /// Provenance details.
    #[serde(default)]
    pub notes: Option<String>,
    /// Where the data come from.
    pub source: Source,
    /// Dataset-level expectations.
    #[serde(default)]
    pub expect: Expect,
    /// Every file of the dataset.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// Parses and validates a manifest; `origin` only names the text in errors.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Self> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| Error::Manifest {
            path: origin.to_path_buf(),
            reason: e.to_string(),
        })?;
        manifest.validate(origin)?;
        Ok(manifest)
    }

    /// Reads, parses and validates the manifest file at `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml_str(&text, path)
    }

    /// Whether every file can be downloaded from its own URL.
    pub fn is_fetchable(&self) -> bool {
        self.files.iter().all(|f| f.url.is_some())
    }

    /// A sentence telling a user how to get the files.
    pub fn how_to_obtain(&self) -> String {
        if let Some(obtain) = &self.obtain {
            return obtain.clone();
        }
        match self.files.iter().find_map(|f| f.url.as_deref()) {
            Some(url) if self.is_fetchable() => format!(
                "run `cargo xtask data fetch {}`, which downloads from the upstream URLs in its \
                 manifest (e.g. {url}) and verifies their sha256",
                self.name
            ),
            _ => "no download location is recorded; see the manifest's source".to_string(),
        }
    }

    /// Rejects manifests that are well-formed TOML but cannot be right.
    fn validate(&self, origin: &Path) -> Result<()> {
        let bad = |reason: String| Error::Manifest {
            path: origin.to_path_buf(),
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(bad("`name` is empty".into()));
        }
        if self.files.is_empty() {
            return Err(bad("no [[files]]".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for f in &self.files {
            if !is_sha256_hex(&f.sha256) {
                return Err(bad(format!(
                    "{}: sha256 must be 64 lower-case hex digits, got {:?}",
                    f.path, f.sha256
                )));
            }
            // Files are written under the data root by `fetch`: a path that could escape
            // it must never get that far.
            if !is_safe_relative(&f.path) {
                return Err(bad(format!(
                    "{}: file paths must be relative, without `..`",
                    f.path
                )));
            }
            if !seen.insert(f.path.as_str()) {
                return Err(bad(format!("{} is listed twice", f.path)));
            }
        }
        Ok(())
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}
