//! Manifests, file location, checksums and installation, on generated files.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use ssad_data::manifest::{DatasetFormat, FileFormat, Manifest};
use ssad_data::registry::{self, Installed, Registry};
use ssad_data::Error;

/// The workspace's `datasets/` folder.
fn datasets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

fn manifest_text(name: &str, path: &str, sha256: &str, size: u64, extra: &str) -> String {
    format!(
        r#"
name = "{name}"
format = "npz"
description = "a test set"
license = "MIT"
citation = "nobody"
protocol = "none"
{extra}

[source]
repo = "owner/repo"
commit = "0123456789abcdef0123456789abcdef01234567"

[[files]]
path = "{path}"
format = "npz"
sha256 = "{sha256}"
size = {size}
url = "https://example.invalid/{path}"
shape = [10, 3]
anomalies = 2
"#
    )
}

const ZERO_SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn parse(text: &str) -> ssad_data::Result<Manifest> {
    Manifest::from_toml_str(text, Path::new("test.toml"))
}

#[test]
fn parses_a_valid_manifest() {
    let m = parse(&manifest_text("t/one", "t/one.npz", ZERO_SHA, 7, "")).unwrap();
    assert_eq!(m.name, "t/one");
    assert_eq!(m.format, DatasetFormat::Npz);
    assert!(!m.optional);
    assert_eq!(m.files.len(), 1);
    assert_eq!(m.files[0].format, FileFormat::Npz);
    assert_eq!(m.files[0].shape.as_deref(), Some(&[10, 3][..]));
    assert_eq!(m.files[0].anomalies, Some(2));
    assert_eq!(m.files[0].file_name(), "one.npz");
    assert!(m.is_fetchable());
}

#[test]
fn unknown_keys_are_errors_that_name_the_key() {
    let top = manifest_text("t", "t.npz", ZERO_SHA, 1, "licence = \"typo\"");
    let err = parse(&top).unwrap_err();
    assert!(matches!(err, Error::Manifest { .. }), "{err:?}");
    assert!(err.to_string().contains("licence"), "{err}");

    let in_file = manifest_text("t", "t.npz", ZERO_SHA, 1, "").replace("size =", "sise =");
    let err = parse(&in_file).unwrap_err().to_string();
    assert!(err.contains("sise"), "{err}");
    assert!(err.contains("test.toml"), "{err}");

    let in_source = manifest_text("t", "t.npz", ZERO_SHA, 1, "").replace("commit =", "comit =");
    assert!(parse(&in_source).unwrap_err().to_string().contains("comit"));
}

#[test]
fn unknown_formats_and_missing_keys_are_errors() {
    let text = manifest_text("t", "t.npz", ZERO_SHA, 1, "").replace(
        "format = \"npz\"\ndescription",
        "format = \"hdf5\"\ndescription",
    );
    assert!(parse(&text).unwrap_err().to_string().contains("hdf5"));
    let text = manifest_text("t", "t.npz", ZERO_SHA, 1, "").replace("citation = \"nobody\"\n", "");
    assert!(parse(&text).unwrap_err().to_string().contains("citation"));
}

#[test]
fn inconsistent_manifests_are_rejected() {
    let short_sha = manifest_text("t", "t.npz", "abc", 1, "");
    assert!(parse(&short_sha)
        .unwrap_err()
        .to_string()
        .contains("sha256"));
    let upper_sha = manifest_text("t", "t.npz", &"A".repeat(64), 1, "");
    assert!(parse(&upper_sha).is_err());
    for path in [
        "../escape.npz",
        "/abs/x.npz",
        "a/../../x.npz",
        "a\\\\b.npz",
        "",
    ] {
        let text = manifest_text("t", path, ZERO_SHA, 1, "");
        assert!(parse(&text).is_err(), "path {path:?} accepted");
    }
    let mut twice = manifest_text("t", "t.npz", ZERO_SHA, 1, "");
    let files = twice[twice.find("[[files]]").unwrap()..].to_string();
    twice.push_str(&files);
    assert!(parse(&twice).unwrap_err().to_string().contains("twice"));
    let nameless = manifest_text("  ", "t.npz", ZERO_SHA, 1, "");
    assert!(parse(&nameless).is_err());
}

#[test]
fn registry_reads_a_folder_and_names_unknown_datasets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        manifest_text("zeta", "z.npz", ZERO_SHA, 1, ""),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sub/a.toml"),
        manifest_text("alpha", "a.npz", ZERO_SHA, 1, ""),
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), "not a manifest").unwrap();
    let reg = Registry::from_dir(dir.path()).unwrap();
    let names: Vec<_> = reg.manifests().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(reg.get("zeta").unwrap().files[0].path, "z.npz");
    let err = reg.get("nope").unwrap_err().to_string();
    assert!(
        err.contains("nope") && err.contains("alpha") && err.contains("zeta"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("sub/dup.toml"),
        manifest_text("alpha", "b.npz", ZERO_SHA, 1, ""),
    )
    .unwrap();
    let err = Registry::from_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("two manifests") && err.contains("alpha"),
        "{err}"
    );
}

#[test]
fn missing_file_message_names_dataset_path_and_remedy() {
    let m = parse(&manifest_text(
        "adbench/x",
        "adbench/classical/x.npz",
        ZERO_SHA,
        1,
        "",
    ))
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    let err = registry::locate(&m, &m.files[0], root.path()).unwrap_err();
    let msg = err.to_string();
    let full = root.path().join("adbench").join("classical").join("x.npz");
    assert!(msg.contains("adbench/x"), "{msg}");
    assert!(msg.contains(&full.display().to_string()), "{msg}");
    assert!(msg.contains("cargo xtask data fetch adbench/x"), "{msg}");
    assert!(
        msg.contains("https://example.invalid/adbench/classical/x.npz"),
        "{msg}"
    );
    assert!(matches!(err, Error::MissingFile { ref searched, .. } if searched == &[full]));
}

#[test]
fn fallback_folder_is_searched_by_file_name_and_named_when_missing() {
    let root = tempfile::tempdir().unwrap();
    let fallback = tempfile::tempdir().unwrap();
    let extra = format!(
        "optional = true\nobtain = \"apt-get install -y some-package\"\nfallback_dir = {:?}",
        fallback.path().display().to_string()
    );
    let m = parse(&manifest_text("fm", "fm/train.gz", ZERO_SHA, 1, &extra)).unwrap();
    assert!(m.optional);
    let msg = registry::locate(&m, &m.files[0], root.path())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("apt-get install -y some-package"), "{msg}");
    assert!(
        msg.contains(&fallback.path().join("train.gz").display().to_string()),
        "{msg}"
    );

    std::fs::write(fallback.path().join("train.gz"), b"x").unwrap();
    let found = registry::locate(&m, &m.files[0], root.path()).unwrap();
    assert_eq!(found, fallback.path().join("train.gz"));

    // The data root wins over the fallback.
    std::fs::create_dir(root.path().join("fm")).unwrap();
    std::fs::write(root.path().join("fm/train.gz"), b"y").unwrap();
    let found = registry::locate(&m, &m.files[0], root.path()).unwrap();
    assert_eq!(found, root.path().join("fm").join("train.gz"));
}

#[test]
fn sha256_known_answers() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(Vec<u8>, &str); 4] = [
        // FIPS 180-2 test vectors.
        (
            Vec::new(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            b"abc".to_vec(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        // Larger than one read chunk; from Python:
        // hashlib.sha256(b'a' * 3_000_000).hexdigest()
        (
            vec![b'a'; 3_000_000],
            "2a152c894398719c0570f83fac34ac03a0f6e8e474b995c2403aa5434f7b9dd4",
        ),
        // hashlib.sha256(bytes(i % 251 for i in range(2_500_001))).hexdigest()
        (
            (0..2_500_001u32).map(|i| (i % 251) as u8).collect(),
            "7e89cf6f02f6651b9028f1db4ded2b80e381b3f638dfd5d34e205f6e23713c30",
        ),
    ];
    for (i, (bytes, expected)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("{i}.bin"));
        std::fs::write(&p, bytes).unwrap();
        assert_eq!(registry::sha256_file(&p).unwrap(), *expected);
    }
}

fn entry_for(dir: &Path, name: &str, bytes: &[u8]) -> Manifest {
    let p = dir.join("gen.bin");
    std::fs::write(&p, bytes).unwrap();
    let sha = registry::sha256_file(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    parse(&manifest_text(
        name,
        &format!("d/{name}.npz"),
        &sha,
        bytes.len() as u64,
        "",
    ))
    .unwrap()
}

#[test]
fn verify_detects_size_and_checksum_mismatches() {
    let root = tempfile::tempdir().unwrap();
    let good: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    let m = entry_for(root.path(), "v", &good);
    let path = registry::path_under(root.path(), &m.files[0]);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();

    std::fs::write(&path, &good).unwrap();
    assert_eq!(
        registry::verify(&m, root.path()).unwrap(),
        vec![path.clone()]
    );

    let mut flipped = good.clone();
    flipped[4321] ^= 1;
    std::fs::write(&path, &flipped).unwrap();
    let err = registry::verify(&m, root.path()).unwrap_err();
    assert!(
        matches!(err, Error::ChecksumMismatch { ref expected, .. } if *expected == m.files[0].sha256),
        "{err:?}"
    );
    assert!(err.to_string().contains("sha256 mismatch"));

    std::fs::write(&path, &good[..100]).unwrap();
    let err = registry::verify(&m, root.path()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SizeMismatch {
                expected: 5000,
                actual: 100,
                ..
            }
        ),
        "{err:?}"
    );
}

/// Files in `dir` other than `keep`, to catch leftover temporary files.
fn strays(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

#[test]
fn install_writes_verified_files_only() {
    let root = tempfile::tempdir().unwrap();
    let good: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let m = entry_for(root.path(), "inst", &good);
    let file = &m.files[0];
    let dest = registry::path_under(root.path(), file);
    let dir = dest.parent().unwrap().to_path_buf();

    let mut bad = good.clone();
    bad[0] ^= 0xff;
    let err = registry::install(file, &dest, &mut bad.as_slice()).unwrap_err();
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err:?}");
    assert!(!dest.exists());
    assert!(strays(&dir, &[]).is_empty(), "{:?}", strays(&dir, &[]));

    for wrong_len in [&good[..10], &[good.as_slice(), b"tail"].concat()[..]] {
        let err = registry::install(file, &dest, &mut &wrong_len[..]).unwrap_err();
        assert!(matches!(err, Error::SizeMismatch { .. }), "{err:?}");
        assert!(!dest.exists());
        assert!(strays(&dir, &[]).is_empty());
    }

    let did = registry::install(file, &dest, &mut good.as_slice()).unwrap();
    assert_eq!(did, Installed::Written);
    assert_eq!(std::fs::read(&dest).unwrap(), good);
    assert!(strays(&dir, &["inst.npz"]).is_empty());

    // A good file is never overwritten, and the source is not even read.
    let did = registry::install(file, &dest, &mut bad.as_slice()).unwrap();
    assert_eq!(did, Installed::AlreadyPresent);
    assert_eq!(std::fs::read(&dest).unwrap(), good);

    // A present but corrupt file is refused, not replaced.
    std::fs::write(&dest, &bad).unwrap();
    let err = registry::install(file, &dest, &mut good.as_slice()).unwrap_err();
    assert!(matches!(err, Error::ChecksumMismatch { .. }));
    assert_eq!(std::fs::read(&dest).unwrap(), bad);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any single flipped byte is caught, and only the exact bytes are installed.
    #[test]
    fn install_accepts_exactly_the_manifest_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 1..4096),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let root = tempfile::tempdir().unwrap();
        let m = entry_for(root.path(), "p", &bytes);
        let dest = registry::path_under(root.path(), &m.files[0]);
        let mut corrupt = bytes.clone();
        corrupt[at.index(bytes.len())] ^= flip;
        prop_assert!(registry::install(&m.files[0], &dest, &mut corrupt.as_slice()).is_err());
        prop_assert!(!dest.exists());
        prop_assert_eq!(
            registry::install(&m.files[0], &dest, &mut bytes.as_slice()).unwrap(),
            Installed::Written
        );
        prop_assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    }
}

#[test]
fn workspace_manifests_parse() {
    let reg = Registry::from_dir(&datasets_dir()).unwrap();
    // 35 ADBench classical + 15 ADBench MVTec embeddings + 2 ODDS + KDD + MVTec bottle +
    // Fashion-MNIST.
    assert_eq!(reg.manifests().len(), 55);
    let fm = reg.get("fashion-mnist").unwrap();
    assert!(fm.optional);
    assert_eq!(
        fm.fallback_dir.as_deref(),
        Some(Path::new("/usr/share/datasets/fashion-mnist"))
    );
    let thyroid = reg.get("adbench/38_thyroid").unwrap();
    assert_eq!(thyroid.files[0].shape.as_deref(), Some(&[3772, 6][..]));
    assert_eq!(thyroid.files[0].anomalies, Some(93));
    assert_eq!(reg.get("mvtec_ad_256/bottle").unwrap().files.len(), 357);
    for m in reg.manifests() {
        assert!(
            m.is_fetchable() || m.obtain.is_some(),
            "{}: no way to obtain it",
            m.name
        );
    }
}

/// The data root the real-data tests use: `SSAD_DATA_DIR`, else `../shared/datasets`
/// beside the workspace.
fn real_data_root() -> Option<PathBuf> {
    let root = registry::data_dir_from_env()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets"));
    root.is_dir().then_some(root)
}

#[test]
fn every_manifest_checksum_matches_the_real_files() {
    let Some(root) = real_data_root() else {
        println!("skipped: no data root (set {})", registry::DATA_DIR_ENV);
        return;
    };
    let reg = Registry::from_dir(&datasets_dir()).unwrap();
    let mut verified = 0;
    for m in reg.manifests() {
        match registry::verify(m, &root) {
            Ok(paths) => verified += paths.len(),
            Err(Error::MissingFile { .. }) if m.optional => {
                println!("skipped optional {}: not installed", m.name)
            }
            Err(e) => panic!("{}: {e}", m.name),
        }
    }
    // 52 single-file sets + 2 KDD files + 357 MVTec files, plus 4 when Fashion-MNIST is in.
    assert!(
        verified == 411 || verified == 415,
        "{verified} files verified"
    );
}
