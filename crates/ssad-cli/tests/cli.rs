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
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
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
        &model,
    ]);
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
        &again,
    ]);
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
    ok(&[
        "fit", "--method", "classic", "--data", &plain, "--out", &model,
    ]);
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
        "goad, classic",
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
