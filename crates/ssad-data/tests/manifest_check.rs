//! `registry::check` on the real datasets: checksums, shapes and counts against the
//! manifests. Skips (with a message) when no data root is present.

use std::path::{Path, PathBuf};

use ssad_data::manifest::Manifest;
use ssad_data::registry::{self, Contents, Registry};
use ssad_data::Error;

fn registry() -> Registry {
    Registry::from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")).unwrap()
}

/// `SSAD_DATA_DIR`, else `../shared/datasets` beside the workspace, if it exists.
fn data_root() -> Option<PathBuf> {
    let root = registry::data_dir_from_env()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets"));
    if root.is_dir() {
        Some(root)
    } else {
        println!(
            "skipped: no data root at {} (set {})",
            root.display(),
            registry::DATA_DIR_ENV
        );
        None
    }
}

#[test]
fn expected_contents_come_from_the_manifests() {
    let reg = registry();
    assert_eq!(
        registry::expected_contents(reg.get("odds/arrhythmia").unwrap()),
        Some(Contents::Tabular {
            rows: 452,
            cols: 274,
            anomalies: 66
        })
    );
    match registry::expected_contents(reg.get("kddcup99").unwrap()) {
        Some(Contents::Kdd {
            rows,
            cols,
            label_counts,
        }) => {
            assert_eq!((rows, cols), (494_021, 121));
            assert_eq!(label_counts.len(), 23);
            assert_eq!(label_counts["normal."], 97_278);
            assert_eq!(label_counts.values().sum::<usize>(), rows);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        registry::expected_contents(reg.get("mvtec_ad_256/bottle").unwrap()),
        Some(Contents::Images {
            train: 209,
            test: 83,
            image_shape: None,
            anomalies: Some(63),
            masks: Some(63)
        })
    );
    assert_eq!(
        registry::expected_contents(reg.get("fashion-mnist").unwrap()),
        Some(Contents::Images {
            train: 60_000,
            test: 10_000,
            image_shape: Some(vec![28, 28]),
            anomalies: None,
            masks: None
        })
    );
    // Every manifest says what its data hold.
    for m in reg.manifests() {
        assert!(registry::expected_contents(m).is_some(), "{}", m.name);
    }
}

#[test]
fn every_dataset_holds_what_its_manifest_says() {
    let Some(root) = data_root() else { return };
    let reg = registry();
    for m in reg.manifests() {
        match registry::check(m, &root) {
            Ok(report) => {
                assert_eq!(
                    Some(&report.contents),
                    registry::expected_contents(m).as_ref()
                );
                assert_eq!(report.files, m.files.len());
            }
            Err(Error::MissingFile { .. }) if m.optional => {
                println!("skipped optional {}: not installed", m.name)
            }
            Err(e) => panic!("{}: {e}", m.name),
        }
    }
}

#[test]
fn a_wrong_count_in_a_manifest_is_a_content_mismatch() {
    let Some(root) = data_root() else { return };
    let reg = registry();
    let mut m: Manifest = reg.get("adbench/38_thyroid").unwrap().clone();
    m.files[0].anomalies = Some(94);
    let err = registry::check(&m, &root).unwrap_err();
    assert!(matches!(err, Error::ContentMismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("adbench/38_thyroid") && msg.contains("93 anomalies") && msg.contains("94"),
        "{msg}"
    );

    let mut m = reg.get("odds/thyroid").unwrap().clone();
    m.files[0].shape = Some(vec![3772, 7]);
    let msg = registry::check(&m, &root).unwrap_err().to_string();
    assert!(
        msg.contains("3772 x 6") && msg.contains("3772 x 7"),
        "{msg}"
    );
}

/// Every entry of the data root's `MANIFEST.json` is covered by a manifest with the same
/// sha256 and size (directories: every file listed in the root's `SHA256SUMS`).
#[test]
fn manifests_cover_every_entry_of_the_data_roots_manifest_json() {
    let Some(root) = data_root() else { return };
    let Ok(text) = std::fs::read_to_string(root.join("MANIFEST.json")) else {
        println!("skipped: no MANIFEST.json in {}", root.display());
        return;
    };
    let entries: serde_json::Value = serde_json::from_str(&text).unwrap();
    let reg = registry();
    let by_path: std::collections::HashMap<&str, &ssad_data::manifest::FileEntry> = reg
        .manifests()
        .iter()
        .flat_map(|m| &m.files)
        .map(|f| (f.path.as_str(), f))
        .collect();
    let sums = std::fs::read_to_string(root.join("SHA256SUMS")).unwrap();
    let mut covered = 0;
    for e in entries.as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        match e["path"].as_str() {
            Some(dir) if dir.ends_with('/') => {
                let listed: Vec<(&str, &str)> = sums
                    .lines()
                    .filter_map(|l| l.split_once("  "))
                    .filter(|(_, p)| p.starts_with(dir))
                    .collect();
                assert!(!listed.is_empty(), "{name}");
                for (sha, p) in listed {
                    assert_eq!(by_path.get(p).map(|f| f.sha256.as_str()), Some(sha), "{p}");
                }
            }
            Some(path) => {
                let f = by_path
                    .get(path)
                    .unwrap_or_else(|| panic!("{name}: no manifest"));
                assert_eq!(Some(f.sha256.as_str()), e["sha256"].as_str(), "{name}");
                assert_eq!(Some(f.size), e["size_bytes"].as_u64(), "{name}");
            }
            // An external package (Fashion-MNIST): its files by name.
            None => {
                for (file, meta) in e["files"].as_object().unwrap() {
                    let f = by_path
                        .iter()
                        .find(|(p, _)| p.ends_with(&format!("/{file}")))
                        .map(|(_, f)| f)
                        .unwrap_or_else(|| panic!("{name}/{file}: no manifest"));
                    assert_eq!(Some(f.sha256.as_str()), meta["sha256"].as_str());
                    assert_eq!(Some(f.size), meta["size_bytes"].as_u64());
                }
            }
        }
        covered += 1;
    }
    assert_eq!(covered, 56);
}
