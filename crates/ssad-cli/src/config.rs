//! Building a method's JSON config from `--config FILE` and `--set key=value` pairs.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

/// The config object: the file's (or `{}`), with every `--set` applied in order.
///
/// Keys may be dotted (`scorer.kind=iforest`) to reach nested objects. Values are
/// read as JSON when they parse (`8`, `0.5`, `true`, `[0.5,0.999]`), else as strings.
pub fn build(file: Option<&Path>, sets: &[String]) -> Result<Option<Value>> {
    let mut config = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config {}", path.display()))?;
            let value: Value = serde_json::from_str(&text)
                .with_context(|| format!("config {} is not valid JSON", path.display()))?;
            if !value.is_object() {
                bail!("config {} must hold a JSON object", path.display());
            }
            Some(value)
        }
        None => None,
    };
    for set in sets {
        let Some((key, raw)) = set.split_once('=') else {
            bail!("--set `{set}` must look like key=value");
        };
        let value = serde_json::from_str(raw.trim()).unwrap_or_else(|_| Value::String(raw.into()));
        let root = config.get_or_insert_with(|| Value::Object(Map::new()));
        insert(root, key.trim(), value).with_context(|| format!("--set `{set}`"))?;
    }
    Ok(config)
}

fn insert(root: &mut Value, key: &str, value: Value) -> Result<()> {
    let mut parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("empty key part in `{key}`");
    }
    let last = parts.pop().unwrap_or(key);
    let mut node = root;
    for part in parts {
        let Value::Object(map) = node else {
            bail!("`{part}` is inside a value that is not an object");
        };
        node = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let Value::Object(map) = node else {
        bail!("`{last}` is inside a value that is not an object");
    };
    map.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_parse_json_and_nest() {
        let config = build(
            None,
            &[
                "num_transforms=8".into(),
                "betas=[0.5, 0.9]".into(),
                "scorer.kind=iforest".into(),
                "scorer.n_estimators=10".into(),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            config,
            serde_json::json!({
                "num_transforms": 8,
                "betas": [0.5, 0.9],
                "scorer": {"kind": "iforest", "n_estimators": 10}
            })
        );
    }

    #[test]
    fn no_config_means_defaults() {
        assert_eq!(build(None, &[]).unwrap(), None);
    }

    #[test]
    fn malformed_sets_are_errors() {
        assert!(build(None, &["novalue".into()]).is_err());
        assert!(build(None, &["a..b=1".into()]).is_err());
        assert!(build(None, &["a=1".into(), "a.b=2".into()]).is_err());
    }
}
