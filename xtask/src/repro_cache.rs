//! Per-seed results of `cargo xtask repro`, kept so a long run can stop and resume.
//!
//! Each finished (spec, setting, dataset, method, seed) of a tabular dataset is
//! stored as `target/repro-cache/<stem>/<dataset>__<method>__seed<N>.json`
//! (`<stem>` is the results file's name: `goad-tabular`, `goad-tabular-quick`,
//! ...), with the metric value, the seconds it took, the git revision and the
//! UTC date, under a key that hashes the resolved method config, the data file
//! and protocol, the reduced setting's sub-sampling and the metric. A run
//! reuses a stored seed only when the key matches, so changing any of those
//! recomputes it; changing the code does not (that is what makes a run
//! resumable across sessions), which is why the results say which rows came
//! from the cache and from which revision.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One seed's stored result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedSeed {
    /// Hash of everything the value depends on (see the module doc).
    pub key: String,
    /// The metric, in percent.
    pub value: f64,
    /// Seconds of split + fit + score when it was computed.
    pub seconds: f64,
    /// `git rev-parse --short=12 HEAD` (with `-dirty`) of the run that computed it.
    pub git: String,
    /// UTC date and time it was computed.
    pub date: String,
}

/// The cache folder of one results file.
pub struct Cache {
    dir: PathBuf,
    /// Ignore stored results (they are recomputed and overwritten).
    fresh: bool,
}

impl Cache {
    /// The cache of results file `stem` under `target/repro-cache/`.
    pub fn new(root: &Path, stem: &str, fresh: bool) -> Self {
        Self {
            dir: root.join("target").join("repro-cache").join(stem),
            fresh,
        }
    }

    fn path(&self, dataset: &str, method: &str, seed: u64) -> PathBuf {
        self.dir.join(format!(
            "{}__{}__seed{seed}.json",
            file_part(dataset),
            file_part(method)
        ))
    }

    /// Where a method that checkpoints (GOAD) trains `seed`: resumed from by
    /// the next run if this one stops mid-seed, removed once the seed is stored.
    /// A `--fresh` run starts it over.
    pub fn run_dir(&self, dataset: &str, method: &str, seed: u64) -> PathBuf {
        let dir = self.dir.join("runs").join(format!(
            "{}__{}__seed{seed}",
            file_part(dataset),
            file_part(method)
        ));
        if self.fresh {
            let _ = std::fs::remove_dir_all(&dir);
        }
        dir
    }

    /// The stored result of `seed`, if there is one under the same `key`.
    pub fn get(&self, dataset: &str, method: &str, seed: u64, key: &str) -> Option<CachedSeed> {
        if self.fresh {
            return None;
        }
        let text = std::fs::read_to_string(self.path(dataset, method, seed)).ok()?;
        let hit: CachedSeed = serde_json::from_str(&text).ok()?;
        (hit.key == key && hit.value.is_finite()).then_some(hit)
    }

    /// Stores `result` (written to a temporary file first, so an interrupted
    /// run never leaves a half-written entry).
    pub fn put(&self, dataset: &str, method: &str, seed: u64, result: &CachedSeed) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let path = self.path(dataset, method, seed);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(result)? + "\n")
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// Letters, digits, `-` and `_` kept; anything else (spaces in `Deep SVDD`,
/// `/`) becomes `-`.
fn file_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// 64-bit FNV-1a of `value`'s canonical JSON text (object keys sorted), in
/// hex: equal values give equal keys, from one run and machine to the next.
pub fn key_of(value: &Value) -> String {
    let mut text = String::new();
    canonical(value, &mut text);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// JSON text with every object's keys in sorted order, whatever order the map
/// keeps them in (serde_json's `preserve_order` may be on through another crate).
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Seeds as compact ranges: `0-2, 4`.
pub fn seed_ranges(seeds: &[u64]) -> String {
    let mut sorted = seeds.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(", ")
}

/// The current UTC date and time, `YYYY-MM-DD HH:MM UTC`, from the system clock.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rest / 3600,
        (rest % 3600) / 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) of the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Prints the trainer's per-epoch lines (`ssad-train`'s `epoch done` events:
/// epoch, loss, seconds) to stderr with the time, for `repro --log-epochs`: a
/// GOAD KDD seed trains for an hour, and its log should show how far it got.
pub struct EpochLog;

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for EpochLog {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        *meta.level() <= tracing::Level::INFO && meta.target().starts_with("ssad_train")
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        eprintln!("  [{}]{}", now_utc(), fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        // 2026-11-29 is day 20,786.
        assert_eq!(civil_from_days(20_786), (2026, 11, 29));
    }

    #[test]
    fn keys_follow_the_value_not_the_key_order() {
        let a = key_of(&json!({"a": 1, "b": [1, 2]}));
        let b = key_of(&json!({"b": [1, 2], "a": 1}));
        assert_eq!(a, b);
        assert_ne!(a, key_of(&json!({"a": 2, "b": [1, 2]})));
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn ranges_are_compact() {
        assert_eq!(seed_ranges(&[4, 0, 1, 2]), "0-2, 4");
        assert_eq!(seed_ranges(&[3]), "3");
        assert_eq!(seed_ranges(&[]), "");
    }

    #[test]
    fn put_then_get_under_the_same_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), "spec-quick", false);
        let hit = CachedSeed {
            key: "k1".into(),
            value: 97.5,
            seconds: 12.0,
            git: "abc".into(),
            date: now_utc(),
        };
        cache.put("kdd", "Deep SVDD", 3, &hit).unwrap();
        assert_eq!(cache.get("kdd", "Deep SVDD", 3, "k1").unwrap().value, 97.5);
        assert!(cache.get("kdd", "Deep SVDD", 3, "k2").is_none());
        assert!(cache.get("kddrev", "Deep SVDD", 3, "k1").is_none());
        assert!(Cache::new(dir.path(), "spec-quick", true)
            .get("kdd", "Deep SVDD", 3, "k1")
            .is_none());
    }
}
