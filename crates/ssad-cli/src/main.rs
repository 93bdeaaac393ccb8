//! `ssad`: fit an anomaly detector on normal data, score new data, evaluate the scores.
//!
//! ```text
//! $ ssad methods
//! $ ssad fit --method goad --data train.csv --out model/ --seed 0
//! $ ssad score --model model/ --data test.csv --label-column label --out scores.csv --threshold-contamination 0.05
//! $ ssad eval --scores scores.csv --labels test.csv:label --plot roc.png
//! ```
//!
//! `eval` prints one metric per line (`AUROC`, `AP`, `F1`, `FPR@95%TPR`, `samples`).
//!
//! * `fit` trains the method on the training file (normal rows) and writes a
//!   model folder: the detector (`ssad_methods`' format), `input.json` (how the
//!   file's columns map to features) and `train_scores.json` (the training
//!   scores, for thresholds). Configure with `--config cfg.json` and/or
//!   `--set key=value` (dotted keys reach nested fields: `--set scorer.kind=iforest`).
//!   Training methods draw a progress bar when stderr is a terminal (`--quiet`: none).
//! * `score` writes `index,score` (plus `label` when the data has labels and
//!   `decision` 0/1 with `--threshold-contamination c`, the threshold being
//!   PyOD's `100 (1 - c)` percentile of the training scores).
//! * `eval` prints AUROC, average precision, F1 at the test contamination (GOAD's
//!   protocol) and FPR at 95% TPR; `--plot` draws the ROC curve and the score
//!   histograms per class into a PNG.
//!
//! Data files: CSV (header optional; `--label-column`, `--drop-column`), `.npy`
//! (features), `.npz` and `.mat` (`X` and optional `y`), or a folder of `.png`
//! images. Every user error is one line on stderr and a non-zero exit code.

mod config;
mod data;
mod eval;
mod font;
mod heatmap;
mod model;
mod plot;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// mimalloc, kept from purging by `configure_cpu_process`: candle's per-op
/// buffers otherwise cost a page fault per page at every op.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Self-supervised anomaly detection: fit on normal data, score, evaluate.
#[derive(Debug, Parser)]
#[command(name = "ssad", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fit a method on training data (normal samples) and save the model folder.
    Fit(FitArgs),
    /// Score data with a saved model; higher = more anomalous.
    Score(ScoreArgs),
    /// Evaluate scores against anomaly labels.
    Eval(EvalArgs),
    /// List the available methods.
    Methods,
}

/// Which columns of a CSV file are not features.
#[derive(Debug, clap::Args)]
struct CsvArgs {
    /// CSV column with 0/1 anomaly labels (1 = anomaly); not used as a feature.
    #[arg(long, value_name = "NAME")]
    label_column: Option<String>,
    /// CSV column to leave out of the features (repeatable).
    #[arg(long = "drop-column", value_name = "NAME")]
    drop_columns: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct FitArgs {
    /// Method name (see `ssad methods`).
    #[arg(long)]
    method: String,
    /// JSON file with the method's config; missing fields keep their defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Override one config field, e.g. `--set num_transforms=8` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Training data (normal samples).
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Model folder to write.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// No training progress bars (drawn only when stderr is a terminal anyway).
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    csv: CsvArgs,
}

#[derive(Debug, clap::Args)]
struct ScoreArgs {
    /// Model folder written by `ssad fit`.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Data to score.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Output CSV (`index,score[,label][,decision]`).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Add a 0/1 `decision` column, thresholding at the (1 - c) quantile of the training scores.
    #[arg(long, value_name = "C")]
    threshold_contamination: Option<f64>,
    /// Write one PNG per image into this folder: the image beside its pixel
    /// anomaly map, coloured on the scale fitted on the training images
    /// (methods that localize, e.g. `cutpaste`; image-folder data only).
    #[arg(long, value_name = "DIR")]
    heatmaps: Option<PathBuf>,
    /// CSV column options, added to those recorded at fit time.
    #[command(flatten)]
    csv: CsvArgs,
}

#[derive(Debug, clap::Args)]
struct EvalArgs {
    /// Scores CSV written by `ssad score`.
    #[arg(long, value_name = "FILE")]
    scores: PathBuf,
    /// Labels: `FILE[:COLUMN]` (CSV column, `.npz` array or `.mat` variable;
    /// default column `label`, array `y`). Default: the `label` column of the scores file.
    #[arg(long, value_name = "FILE[:COLUMN]")]
    labels: Option<String>,
    /// Draw the ROC curve and the score histograms per class into this PNG.
    #[arg(long, value_name = "PNG")]
    plot: Option<PathBuf>,
}

fn main() -> ExitCode {
    ssad_train::configure_cpu_process(true);
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Fit(a) => model::fit(&model::FitRequest {
            method: &a.method,
            config_file: a.config.as_deref(),
            sets: &a.sets,
            seed: a.seed,
            data: &a.data,
            out: &a.out,
            quiet: a.quiet,
            csv: a.csv.into(),
        }),
        Command::Score(a) => model::score(
            &a.model,
            &a.data,
            &a.out,
            a.threshold_contamination,
            a.heatmaps.as_deref(),
            a.csv.into(),
        ),
        Command::Eval(a) => eval::run(&a.scores, a.labels.as_deref(), a.plot.as_deref()),
        Command::Methods => {
            model::list_methods();
            Ok(())
        }
    }
}

impl From<CsvArgs> for data::CsvOptions {
    fn from(a: CsvArgs) -> Self {
        Self {
            label_column: a.label_column,
            drop_columns: a.drop_columns,
        }
    }
}
