//! `ssad fit/score/eval` end to end on CSV files such as a user brings.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rand::Rng;
use rand_distr::StandardNormal;
use ssad_core::{Seed, Stream};

const FEATURES: usize = 6;

fn ssad(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ssad"))
        .args(args)
        // Messages must not depend on backtraces being off.
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run ssad")
}

fn ok(args: &[&str]) -> String {
    let out = ssad(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ssad {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail with one clear `error:` line mentioning `needle`.
fn fails_with(args: &[&str], needle: &str) -> String {
    let out = ssad(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "ssad {args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    // Progress lines may come first; the error is the last line, and the only one.
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert_eq!(stderr.lines().last(), Some(errors[0]), "{stderr}");
    assert!(errors[0].contains(needle), "`{needle}` not in: {stderr}");
    stderr
}

/// Normal rows lie near a 2-d plane in 6-d (plus noise); outliers are spread in every direction.
fn sample(seed: u64, normal: usize, outliers: usize) -> Vec<(Vec<f64>, bool)> {
    let mut rng = Seed(seed).rng(Stream::Other(0), 0, 0);
    let basis: [[f64; FEATURES]; 2] = [
        [1.0, 0.5, -0.3, 0.8, 0.0, 0.2],
        [0.0, 1.0, 0.7, -0.5, 0.4, -0.6],
    ];
    let mut rows = Vec::new();
    for _ in 0..normal {
        let (a, b): (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
        let row = (0..FEATURES)
            .map(|j| {
                let noise: f64 = rng.sample(StandardNormal);
                a * basis[0][j] + b * basis[1][j] + 0.05 * noise
            })
            .collect();
        rows.push((row, false));
    }
    for _ in 0..outliers {
        let row = (0..FEATURES)
            .map(|_| 2.5 * rng.sample::<f64, _>(StandardNormal))
            .collect();
        rows.push((row, true));
    }
    rows
}

/// A CSV with an `id` column, named features and optionally a `label` column.
fn write_csv(path: &Path, rows: &[(Vec<f64>, bool)], with_label: bool) {
    let mut text = String::from("id");
    for j in 0..FEATURES {
        text.push_str(&format!(",f{j}"));
    }
    if with_label {
        text.push_str(",label");
    }
    text.push('\n');
    for (i, (row, label)) in rows.iter().enumerate() {
        text.push_str(&format!("{}", 1000 + i));
        for v in row {
            text.push_str(&format!(",{v:.5}"));
        }
        if with_label {
            text.push_str(if *label { ",1" } else { ",0" });
        }
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

struct Files {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        write_csv(&root.join("train.csv"), &sample(1, 400, 0), false);
        write_csv(&root.join("test.csv"), &sample(2, 200, 20), true);
        Self { _dir: dir, root }
    }

    fn path(&self, name: &str) -> String {
        self.root.join(name).to_str().unwrap().to_string()
    }
}

fn read_scores(path: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    (header, rows)
}

fn printed_auroc(stdout: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("AUROC"))
        .unwrap_or_else(|| panic!("no AUROC line in {stdout}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn goad_fit_score_eval_on_a_csv() {
    let f = Files::new();
    let (train, test, model, scores) = (
        f.path("train.csv"),
        f.path("test.csv"),
        f.path("goad-model"),
        f.path("scores.csv"),
    );
    // A small GOAD, seed 3, with the `id` column dropped.
    let fit_goad = |out: &str| {
        ok(&[
            "fit",
            "--method",
            "goad",
            "--set",
            "num_transforms=16",
            "--set",
            "transform_dim=8",
            "--set",
            "epochs=5",
            "--seed",
            "3",
            "--data",
            &train,
            "--drop-column",
            "id",
            "--out",
            out,
        ])
    };
    fit_goad(&model);
    for file in ["method.json", "input.json", "train_scores.json"] {
        assert!(Path::new(&model).join(file).is_file(), "{file} missing");
    }
    // `id` is dropped as recorded at fit time; the label column is new.
    ok(&[
        "score",
        "--model",
        &model,
        "--data",
        &test,
        "--out",
        &scores,
        "--label-column",
        "label",
        "--threshold-contamination",
        "0.05",
    ]);
    let (header, rows) = read_scores(&scores);
    assert_eq!(header, ["index", "score", "label", "decision"]);
    assert_eq!(rows.len(), 220);
    assert!(rows
        .iter()
        .all(|r| r[1].is_finite() && (r[3] == 0.0 || r[3] == 1.0)));
    let flagged_outliers = rows.iter().filter(|r| r[2] == 1.0 && r[3] == 1.0).count();
    let flagged_normals = rows.iter().filter(|r| r[2] == 0.0 && r[3] == 1.0).count();
    assert!(
        flagged_outliers >= 15,
        "{flagged_outliers} of 20 outliers flagged"
    );
    assert!(
        flagged_normals <= 30,
        "{flagged_normals} of 200 normals flagged"
    );

    let stdout = ok(&[
        "eval",
        "--scores",
        &scores,
        "--labels",
        &format!("{test}:label"),
    ]);
    assert!(printed_auroc(&stdout) > 0.9, "{stdout}");
    for metric in ["AP ", "F1 ", "FPR@95%TPR "] {
        assert!(stdout.contains(metric), "{metric} missing from {stdout}");
    }

    // Same seed, same scores: the model folder is a reproducible artefact.
    let again = f.path("goad-again");
    fit_goad(&again);
    assert_eq!(
        std::fs::read(Path::new(&model).join("train_scores.json")).unwrap(),
        std::fs::read(Path::new(&again).join("train_scores.json")).unwrap()
    );
}

#[test]
fn classic_knn_with_plot_and_labels_from_the_scores_file() {
    let f = Files::new();
    let (train, test, model, scores, png) = (
        f.path("train.csv"),
        f.path("test.csv"),
        f.path("knn"),
        f.path("scores.csv"),
        f.path("roc.png"),
    );
    ok(&[
        "fit",
        "--method",
        "classic",
        "--data",
        &train,
        "--drop-column",
        "id",
        "--out",
        &model,
    ]);
    // Label column given at score time only; without a threshold, no decision column.
    ok(&[
        "score",
        "--model",
        &model,
        "--data",
        &test,
        "--out",
        &scores,
        "--label-column",
        "label",
        "--drop-column",
        "id",
    ]);
    let (header, _) = read_scores(&scores);
    assert_eq!(header, ["index", "score", "label"]);
    let stdout = ok(&["eval", "--scores", &scores, "--plot", &png]);
    assert!(printed_auroc(&stdout) > 0.9, "{stdout}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 5_000, "suspiciously small plot");
}

#[test]
fn headerless_csv_and_methods_listing() {
    let f = Files::new();
    let rows = sample(5, 100, 0);
    let text: String = rows
        .iter()
        .map(|(r, _)| {
            r.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    let plain = f.path("plain.csv");
    std::fs::write(&plain, text).unwrap();
    let model = f.path("m");
    let config = f.path("lof.json");
    std::fs::write(&config, r#"{"scorer": {"kind": "lof"}}"#).unwrap();
    ok(&[
        "fit",
        "--method",
        "classic",
        "--config",
        &config,
        "--set",
        "scorer.n_neighbors=5",
        "--data",
        &plain,
        "--out",
        &model,
    ]);
    let saved = std::fs::read_to_string(Path::new(&model).join("method.json")).unwrap();
    assert!(
        saved.contains("\"lof\"") && saved.contains("\"n_neighbors\": 5"),
        "{saved}"
    );
    let scores = f.path("s.csv");
    ok(&[
        "score", "--model", &model, "--data", &plain, "--out", &scores,
    ]);
    assert_eq!(read_scores(&scores).1.len(), 100);

    let listing = ok(&["methods"]);
    assert!(
        listing.contains("goad") && listing.contains("classic"),
        "{listing}"
    );
    assert!(listing.contains("Bergman"), "{listing}");
}

#[test]
fn user_errors_are_one_clear_line() {
    let f = Files::new();
    let (train, test) = (f.path("train.csv"), f.path("test.csv"));
    let model = f.path("model");
    let out = f.path("scores.csv");

    fails_with(
        &[
            "fit",
            "--method",
            "classic",
            "--data",
            &f.path("nope.csv"),
            "--out",
            &model,
        ],
        "nope.csv does not exist",
    );
    fails_with(
        &[
            "fit", "--method", "goadd", "--data", &train, "--out", &model,
        ],
        // Listed in registry order, whatever methods come after GOAD.
        "unknown method `goadd`; registered: goad,",
    );
    fails_with(
        &[
            "fit",
            "--method",
            "goad",
            "--set",
            "num_transfroms=8",
            "--data",
            &train,
            "--out",
            &model,
        ],
        "num_transfroms",
    );
    fails_with(
        &[
            "fit",
            "--method",
            "goad",
            "--set",
            "num_transforms",
            "--data",
            &train,
            "--out",
            &model,
        ],
        "key=value",
    );
    fails_with(
        &[
            "fit",
            "--method",
            "classic",
            "--data",
            &train,
            "--drop-column",
            "zz",
            "--out",
            &model,
        ],
        "no column `zz`",
    );

    let nan = f.path("nan.csv");
    std::fs::write(&nan, "a,b\n1,2\n3,NaN\n").unwrap();
    fails_with(
        &[
            "fit", "--method", "classic", "--data", &nan, "--out", &model,
        ],
        "line 3, column `b`",
    );
    let text = f.path("text.csv");
    std::fs::write(&text, "a,b\n1,2\n3,x\n").unwrap();
    fails_with(
        &[
            "fit", "--method", "classic", "--data", &text, "--out", &model,
        ],
        "`x` is not a number",
    );

    ok(&[
        "fit",
        "--method",
        "classic",
        "--data",
        &train,
        "--drop-column",
        "id",
        "--out",
        &model,
    ]);
    // Dropping one more column than at fit time leaves the model a column short.
    fails_with(
        &[
            "score",
            "--model",
            &model,
            "--data",
            &train,
            "--drop-column",
            "f0",
            "--out",
            &out,
        ],
        "5 feature columns, the model was trained on 6",
    );
    let renamed = f.path("renamed.csv");
    let text = std::fs::read_to_string(&train)
        .unwrap()
        .replacen("f5", "g5", 1);
    std::fs::write(&renamed, text).unwrap();
    fails_with(
        &[
            "score", "--model", &model, "--data", &renamed, "--out", &out,
        ],
        "differ from the training columns",
    );
    let narrow = f.path("narrow.csv");
    std::fs::write(&narrow, "id,f0,f1\n1,2,3\n4,5,6\n").unwrap();
    fails_with(
        &["score", "--model", &model, "--data", &narrow, "--out", &out],
        "2 feature columns, the model was trained on 6",
    );
    // The column layout recorded at fit time is applied to new files.
    let headerless = f.path("headerless.csv");
    std::fs::write(&headerless, "1,2,3\n4,5,6\n").unwrap();
    fails_with(
        &[
            "score",
            "--model",
            &model,
            "--data",
            &headerless,
            "--out",
            &out,
        ],
        "no column `id`",
    );
    fails_with(
        &[
            "score",
            "--model",
            &f.path("no-model"),
            "--data",
            &test,
            "--out",
            &out,
        ],
        "does not exist",
    );
    fails_with(
        &[
            "score",
            "--model",
            &model,
            "--data",
            &test,
            "--out",
            &out,
            "--label-column",
            "label",
            "--drop-column",
            "id",
            "--threshold-contamination",
            "0.9",
        ],
        "contamination",
    );
    fails_with(
        &["eval", "--scores", &test, "--labels", &test],
        "no `score` column",
    );
}

/// A version-1.0 `.npy` of a C-order float64 array.
fn npy(shape: &[usize], values: &[f64]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let dims = if dims.len() == 1 {
        format!("{},", dims[0])
    } else {
        dims.join(", ")
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({dims}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

fn features_and_labels(rows: &[(Vec<f64>, bool)]) -> (Vec<f64>, Vec<f64>) {
    let x = rows.iter().flat_map(|(r, _)| r.iter().copied()).collect();
    let y = rows.iter().map(|(_, l)| f64::from(u8::from(*l))).collect();
    (x, y)
}

#[test]
fn npy_and_npz_files() {
    use std::io::Write;
    let f = Files::new();
    let train_rows = sample(1, 300, 0);
    let (x, _) = features_and_labels(&train_rows);
    let train = f.path("train.npy");
    std::fs::write(&train, npy(&[train_rows.len(), FEATURES], &x)).unwrap();

    let test_rows = sample(2, 200, 20);
    let (x, y) = features_and_labels(&test_rows);
    let test = f.path("test.npz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&test).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("X.npy", options).unwrap();
    zip.write_all(&npy(&[test_rows.len(), FEATURES], &x))
        .unwrap();
    zip.start_file("y.npy", options).unwrap();
    zip.write_all(&npy(&[test_rows.len()], &y)).unwrap();
    zip.finish().unwrap();

    let (model, scores) = (f.path("m"), f.path("s.csv"));
    ok(&[
        "fit", "--method", "classic", "--data", &train, "--out", &model,
    ]);
    ok(&[
        "score", "--model", &model, "--data", &test, "--out", &scores,
    ]);
    let (header, _) = read_scores(&scores);
    assert_eq!(header, ["index", "score", "label"]);
    let stdout = ok(&["eval", "--scores", &scores, "--labels", &test]);
    assert!(printed_auroc(&stdout) > 0.9, "{stdout}");

    let wide = f.path("wide.npy");
    std::fs::write(&wide, npy(&[2, 3], &[1.0, 2.0, 3.0, 4.0, f64::NAN, 6.0])).unwrap();
    fails_with(
        &[
            "score", "--model", &model, "--data", &wide, "--out", &scores,
        ],
        "data row 2, column 2",
    );
}

#[test]
fn image_folders() {
    let f = Files::new();
    let folder = f.root.join("images");
    std::fs::create_dir(&folder).unwrap();
    let folder_str = folder.to_str().unwrap().to_string();
    let model = f.path("m");
    fails_with(
        &[
            "fit",
            "--method",
            "goad",
            "--data",
            &folder_str,
            "--out",
            &model,
        ],
        "holds no .png",
    );
    for i in 0..3u8 {
        let img = image::RgbImage::from_fn(8, 8, |x, y| {
            image::Rgb([i * 40, x as u8 * 16, y as u8 * 16])
        });
        img.save(folder.join(format!("{i}.png"))).unwrap();
    }
    // The registered methods are tabular: images are read, then refused by kind.
    fails_with(
        &[
            "fit",
            "--method",
            "goad",
            "--data",
            &folder_str,
            "--out",
            &model,
        ],
        "goad takes tabular input, got images",
    );
    image::RgbImage::new(4, 4)
        .save(folder.join("odd.png"))
        .unwrap();
    fails_with(
        &[
            "fit",
            "--method",
            "goad",
            "--data",
            &folder_str,
            "--out",
            &model,
        ],
        "the first image is 3x8x8",
    );
}

/// One uncompressed MATLAB v5 double matrix element; `values` column-major.
fn mat_matrix(name: &str, rows: usize, cols: usize, values: &[f64]) -> Vec<u8> {
    fn tag(out: &mut Vec<u8>, kind: u32, len: usize) {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    fn pad(out: &mut Vec<u8>) {
        while out.len() % 8 != 0 {
            out.push(0);
        }
    }
    let mut body = Vec::new();
    tag(&mut body, 6, 8); // miUINT32 array flags: class mxDOUBLE (6)
    body.extend_from_slice(&6u32.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    tag(&mut body, 5, 8); // miINT32 dimensions
    body.extend_from_slice(&(rows as i32).to_le_bytes());
    body.extend_from_slice(&(cols as i32).to_le_bytes());
    tag(&mut body, 1, name.len()); // miINT8 name
    body.extend_from_slice(name.as_bytes());
    pad(&mut body);
    tag(&mut body, 9, values.len() * 8); // miDOUBLE real part
    for v in values {
        body.extend_from_slice(&v.to_le_bytes());
    }
    let mut out = Vec::new();
    tag(&mut out, 14, body.len()); // miMATRIX
    out.extend(body);
    out
}

#[test]
fn mat_files() {
    let f = Files::new();
    let mut header = format!(
        "{:<116}",
        "MATLAB 5.0 MAT-file, written by the ssad-cli test"
    )
    .into_bytes();
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&0x0100u16.to_le_bytes());
    header.extend_from_slice(b"IM");
    let write = |path: &str, rows: &[(Vec<f64>, bool)]| {
        let (x, y) = features_and_labels(rows);
        let n = rows.len();
        // Row-major to MATLAB's column-major.
        let x_cm: Vec<f64> = (0..FEATURES)
            .flat_map(|j| (0..n).map(move |i| (i, j)))
            .map(|(i, j)| x[i * FEATURES + j])
            .collect();
        let mut bytes = header.clone();
        bytes.extend(mat_matrix("X", n, FEATURES, &x_cm));
        bytes.extend(mat_matrix("y", n, 1, &y));
        std::fs::write(path, bytes).unwrap();
    };
    let (train, test) = (f.path("train.mat"), f.path("test.mat"));
    write(&train, &sample(1, 300, 0));
    write(&test, &sample(2, 200, 20));
    let (model, scores) = (f.path("m"), f.path("s.csv"));
    ok(&[
        "fit", "--method", "classic", "--data", &train, "--out", &model,
    ]);
    ok(&[
        "score", "--model", &model, "--data", &test, "--out", &scores,
    ]);
    let stdout = ok(&[
        "eval",
        "--scores",
        &scores,
        "--labels",
        &format!("{test}:y"),
    ]);
    assert!(printed_auroc(&stdout) > 0.9, "{stdout}");
}

#[test]
fn baselines_fit_score_eval_on_a_csv_and_an_image_folder() {
    let f = Files::new();
    let (train, test) = (f.path("train.csv"), f.path("test.csv"));
    // Deep SVDD and the autoencoder on the user's CSV, small settings.
    let small = [
        (
            "deep_svdd",
            vec![
                "epochs=10",
                "ae_epochs=5",
                "lr=0.001",
                "ae_lr=0.001",
                "batch_size=32",
                "ae_batch_size=32",
            ],
        ),
        ("autoencoder", vec!["epochs=10"]),
    ];
    for (name, sets) in small {
        let (model, scores) = (f.path(name), f.path(&format!("{name}.csv")));
        let mut args = vec![
            "fit",
            "--method",
            name,
            "--quiet",
            "--data",
            &train,
            "--drop-column",
            "id",
            "--out",
            &model,
        ];
        for s in &sets {
            args.extend(["--set", s]);
        }
        ok(&args);
        ok(&[
            "score",
            "--model",
            &model,
            "--data",
            &test,
            "--out",
            &scores,
            "--label-column",
            "label",
        ]);
        let stdout = ok(&["eval", "--scores", &scores]);
        assert!(printed_auroc(&stdout) > 0.8, "{name}: {stdout}");
    }

    // Frozen features on a folder of PNG images.
    let folder = f.root.join("images");
    std::fs::create_dir(&folder).unwrap();
    for i in 0..8u8 {
        let img = image::RgbImage::from_fn(8, 8, |x, y| {
            image::Rgb([i * 20, x as u8 * 16, y as u8 * 16])
        });
        img.save(folder.join(format!("{i}.png"))).unwrap();
    }
    let folder = folder.to_str().unwrap().to_string();
    let (model, scores) = (f.path("frozen"), f.path("frozen.csv"));
    let config = f.path("frozen.json");
    std::fs::write(
        &config,
        r#"{"backbone": {"kind": "small32"}, "scorer": {"kind": "knn", "n_neighbors": 2}}"#,
    )
    .unwrap();
    ok(&[
        "fit", "--method", "frozen", "--config", &config, "--data", &folder, "--out", &model,
    ]);
    ok(&[
        "score", "--model", &model, "--data", &folder, "--out", &scores,
    ]);
    let (_, rows) = read_scores(&scores);
    assert_eq!(rows.len(), 8);
    assert!(rows.iter().all(|r| r[1].is_finite()));
    // A tabular file is refused by the image-only method.
    fails_with(
        &[
            "fit",
            "--method",
            "frozen",
            "--data",
            &train,
            "--out",
            &f.path("x"),
        ],
        "frozen takes images input, got tabular",
    );

    let listing = ok(&["methods"]);
    for name in ["frozen", "autoencoder", "deep_svdd", "Ruff"] {
        assert!(listing.contains(name), "{name} not in {listing}");
    }
}

#[test]
fn cutpaste_heatmaps_of_an_image_folder() {
    let f = Files::new();
    let folder = f.root.join("bottles");
    std::fs::create_dir(&folder).unwrap();
    let mut rng = Seed(11).rng(Stream::Other(0), 0, 0);
    for i in 0..8 {
        let img = image::RgbImage::from_fn(32, 32, |_, _| {
            image::Rgb(std::array::from_fn(|_| rng.random_range(60u8..200)))
        });
        img.save(folder.join(format!("img{i}.png"))).unwrap();
    }
    let folder = folder.to_str().unwrap().to_string();
    // A tiny binary CutPaste with its patch model: 16-px windows at stride 4,
    // its GDE fitted on those at stride 8.
    let config = f.path("cutpaste.json");
    std::fs::write(
        &config,
        r#"{"task": "binary", "backbone": {"kind": "small32"}, "head_layers": 1,
            "head_dim": 8, "embed_dim": 4, "steps": 2, "batch_size": 4,
            "localization": {"patch_size": 16, "stride": 4, "fit_stride": 8,
                             "steps": 2, "batch_size": 4}}"#,
    )
    .unwrap();
    let (model, scores, maps) = (f.path("cutpaste"), f.path("cp.csv"), f.root.join("maps"));
    ok(&[
        "fit", "--method", "cutpaste", "--quiet", "--config", &config, "--data", &folder, "--out",
        &model,
    ]);
    let out = ssad(&[
        "score",
        "--model",
        &model,
        "--data",
        &folder,
        "--out",
        &scores,
        "--heatmaps",
        maps.to_str().unwrap(),
    ]);
    let printed =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("wrote 8 heatmaps"), "{printed}");
    let (_, rows) = read_scores(&scores);
    assert_eq!(rows.len(), 8);
    for i in 0..8 {
        let png = image::open(maps.join(format!("img{i}.png")))
            .unwrap()
            .to_rgb8();
        // The image, a 4-px gap, the overlay.
        assert_eq!(png.dimensions(), (2 * 32 + 4, 32));
        let original = image::open(Path::new(&folder).join(format!("img{i}.png")))
            .unwrap()
            .to_rgb8();
        assert_eq!(png.get_pixel(5, 7), original.get_pixel(5, 7));
    }
}
