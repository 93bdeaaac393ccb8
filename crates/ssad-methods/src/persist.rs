//! The model folder's header, `method.json`, shared by every method.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The header file every saved detector has.
pub const HEADER_FILE: &str = "method.json";
const FORMAT: &str = "ssad-method";
const VERSION: u32 = 1;

/// What `method.json` holds: which method, its config, and method-specific facts
/// (e.g. the input width) needed to rebuild it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Header {
    format: String,
    version: u32,
    pub method: String,
    pub config: serde_json::Value,
    pub fitted: serde_json::Value,
}

pub(crate) fn write_header(
    dir: &Path,
    method: &str,
    config: serde_json::Value,
    fitted: serde_json::Value,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let header = Header {
        format: FORMAT.to_string(),
        version: VERSION,
        method: method.to_string(),
        config,
        fitted,
    };
    let path = dir.join(HEADER_FILE);
    let json = serde_json::to_vec_pretty(&header).map_err(|e| Error::CorruptModel {
        path: dir.to_path_buf(),
        reason: format!("cannot serialise the header: {e}"),
    })?;
    std::fs::write(&path, json).map_err(Error::io(path))
}

/// Reads the header of any saved detector.
pub(crate) fn read_header(dir: &Path) -> Result<Header> {
    let path = dir.join(HEADER_FILE);
    let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
    let header: Header = serde_json::from_slice(&bytes).map_err(|e| Error::CorruptModel {
        path: dir.to_path_buf(),
        reason: format!("{HEADER_FILE}: {e}"),
    })?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(Error::CorruptModel {
            path: dir.to_path_buf(),
            reason: format!(
                "format {} v{} is not {FORMAT} v{VERSION}",
                header.format, header.version
            ),
        });
    }
    Ok(header)
}

/// Reads the header and checks that `expected` wrote it.
pub(crate) fn read_header_of(dir: &Path, expected: &'static str) -> Result<Header> {
    let header = read_header(dir)?;
    if header.method != expected {
        return Err(Error::WrongMethod {
            path: dir.to_path_buf(),
            expected,
            found: header.method,
        });
    }
    Ok(header)
}

/// Parses a JSON value into a config, as a typed error.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    dir: Option<&Path>,
) -> Result<T> {
    serde_json::from_value(value).map_err(|e| match dir {
        Some(d) => Error::CorruptModel {
            path: d.to_path_buf(),
            reason: format!("config: {e}"),
        },
        None => Error::InvalidConfig {
            field: "config",
            reason: e.to_string(),
        },
    })
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::InvalidConfig {
        field: "config",
        reason: e.to_string(),
    })
}
