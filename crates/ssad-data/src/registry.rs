//! Finding, verifying and installing the files that the manifests describe.
//!
//! Files live under a *data root*: `SSAD_DATA_DIR`, unless a caller (such as
//! `cargo xtask data --data-dir`) passes another. A manifest may name a fallback folder
//! (Fashion-MNIST's Debian package installs into `/usr/share/datasets/fashion-mnist`).
//! A file that is present but whose size or sha256 differs from its manifest is an
//! error, never a warning.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::manifest::{FileEntry, Manifest};

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
