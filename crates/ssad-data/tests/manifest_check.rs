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
