//! Shared helpers of the reader and protocol tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `SSAD_DATA_DIR` (a relative value is taken from the workspace root, as CI sets it),
/// else `<workspace>/../shared/datasets`; `None`, with a printed reason, when absent.
pub fn data_root() -> Option<PathBuf> {
    let root = match std::env::var_os("SSAD_DATA_DIR").filter(|v| !v.is_empty()) {
        Some(v) => {
            let p = PathBuf::from(v);
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        }
        None => workspace_root().join("../shared/datasets"),
    };
    if root.is_dir() {
        Some(root)
    } else {
        println!(
            "skipped: no data root at {} (set SSAD_DATA_DIR)",
            root.display()
        );
        None
    }
}

/// `relative` under the data root, or `None` (with a printed reason) when it is absent.
pub fn data_file(relative: &str) -> Option<PathBuf> {
    let path = data_root()?.join(relative);
    if path.exists() {
        Some(path)
    } else {
        println!("skipped: {} is absent", path.display());
        None
    }
}

/// The committed known answers made by `fixtures/make_fixtures.py`.
pub fn fixtures() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/readers.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A JSON array of numbers as `f64`s.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Asserts `a` and `b` agree to a relative tolerance.
pub fn assert_close(a: f64, b: f64, rel: f64, what: &str) {
    let tol = rel * a.abs().max(b.abs()).max(1.0);
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b}");
}
