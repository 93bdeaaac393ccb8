//! `ssad fit`, `ssad score` and `ssad methods`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use ssad_core::Seed;

use crate::config;
use crate::data::{self, CsvOptions, Data};

/// What the CLI records next to the detector: how to read data files for it.
const INPUT_FILE: &str = "input.json";
/// The detector's scores of its own training data, for contamination thresholds.
const TRAIN_SCORES_FILE: &str = "train_scores.json";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSpec {
    csv: CsvOptions,
    /// `tabular` or `images`.
    kind: String,
    /// Feature columns (tabular) or `[C, H, W]` (images).
    shape: Vec<usize>,
    /// Feature names of a CSV with a header.
    feature_names: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainScores {
    scores: Vec<f64>,
}

impl InputSpec {
    fn of(data: &Data, csv: CsvOptions) -> Self {
        match data {
            Data::Tabular { x, names, .. } => Self {
                csv,
                kind: "tabular".into(),
                shape: vec![x.cols()],
                feature_names: names.clone(),
            },
            Data::Images { shape, .. } => Self {
                csv,
                kind: "images".into(),
                shape: shape[1..].to_vec(),
                feature_names: None,
            },
        }
    }

    /// A clear message when `data` cannot be what the model was trained on.
    fn check(&self, data: &Data, path: &Path) -> Result<()> {
        let got = InputSpec::of(data, CsvOptions::default());
        if got.kind != self.kind {
            bail!(
                "{}: the model was trained on {} data, this is {}",
                path.display(),
                self.kind,
                got.kind
            );
        }
        if got.shape != self.shape {
            let what = if self.kind == "tabular" {
                format!(
                    "{} feature columns, the model was trained on {}",
                    got.shape[0], self.shape[0]
                )
            } else {
                format!(
                    "images of {:?}, the model was trained on {:?} (C, H, W)",
                    got.shape, self.shape
                )
            };
            bail!("{}: {what}", path.display());
        }
        if let (Some(want), Some(have)) = (&self.feature_names, &got.feature_names) {
            if want != have {
                bail!(
                    "{}: feature columns [{}] differ from the training columns [{}]",
                    path.display(),
                    have.join(", "),
                    want.join(", ")
                );
            }
        }
        Ok(())
    }
}

/// Everything `ssad fit` needs.
pub struct FitRequest<'a> {
    pub method: &'a str,
    pub config_file: Option<&'a Path>,
    pub sets: &'a [String],
    pub seed: u64,
    pub data: &'a Path,
    pub out: &'a Path,
    /// No progress bars.
    pub quiet: bool,
    pub csv: CsvOptions,
}

pub fn fit(request: &FitRequest<'_>) -> Result<()> {
    // The config is checked before the (possibly long) data read.
    let config = config::build(request.config_file, request.sets)?;
    let method = ssad_methods::method(request.method, config)?;
    let data = data::read(request.data, &request.csv)?;
    eprintln!(
        "fitting {} on {} ({}), seed {}",
        method.name(),
        request.data.display(),
        data.describe(),
        request.seed
    );
    // Methods leave progress off by default; the trainer draws a bar only on a terminal.
    ssad_methods::set_progress(!request.quiet && std::io::stderr().is_terminal());
    let start = Instant::now();
    let detector = method.fit(data.input()?, Seed(request.seed))?;
    let train_scores = detector.score(data.input()?)?;
    detector.save(request.out)?;
    write_json(
        &request.out.join(INPUT_FILE),
        &InputSpec::of(&data, request.csv.clone()),
    )?;
    write_json(
        &request.out.join(TRAIN_SCORES_FILE),
        &TrainScores {
            scores: train_scores,
        },
    )?;
    eprintln!(
        "saved {} model to {} in {:.1} s",
        method.name(),
        request.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn score(
    model: &Path,
    data_path: &Path,
    out: &Path,
    contamination: Option<f64>,
    heatmaps: Option<&Path>,
    extra_csv: CsvOptions,
) -> Result<()> {
    if !model.is_dir() {
        bail!("model folder {} does not exist", model.display());
    }
    let detector = ssad_methods::load(model)?;
    let spec: Option<InputSpec> = read_json_if_present(&model.join(INPUT_FILE))?;
    let csv = merge_csv(spec.as_ref().map(|s| &s.csv), extra_csv);
    let data = read_for_scoring(data_path, &csv, spec.as_ref())?;
    if let Some(spec) = &spec {
        spec.check(&data, data_path)?;
    }
    let threshold = contamination
        .map(|c| -> Result<_> {
            let train: Option<TrainScores> =
                read_json_if_present(&model.join(TRAIN_SCORES_FILE))?;
            let Some(train) = train else {
                bail!(
                    "{} has no {TRAIN_SCORES_FILE} (it was not written by `ssad fit`), so no threshold can be fitted",
                    model.display()
                );
            };
            ssad_eval::Threshold::from_contamination(&train.scores, c)
                .context("--threshold-contamination")
        })
        .transpose()?;
    let scores = detector.score(data.input()?)?;
    let decisions = threshold
        .map(|t| t.predict(&scores))
        .transpose()
        .context("thresholding the scores")?;
    write_scores(out, &scores, data.labels(), decisions.as_deref())?;
    if let Some(dir) = heatmaps {
        write_heatmaps(detector.as_ref(), &data, dir)?;
    }
    eprintln!(
        "scored {} samples of {} with {} -> {}{}",
        scores.len(),
        data_path.display(),
        detector.method(),
        out.display(),
        match (threshold, &decisions) {
            (Some(t), Some(d)) => format!(
                " ({} flagged, threshold {:.6})",
                d.iter().filter(|&&a| a).count(),
                t.value()
            ),
            _ => String::new(),
        }
    );
    Ok(())
}

/// `--heatmaps`: the detector's pixel maps of image data, one PNG per image.
fn write_heatmaps(detector: &dyn ssad_methods::Detector, data: &Data, dir: &Path) -> Result<()> {
    let Data::Images {
        data: pixels,
        shape,
        names,
    } = data
    else {
        bail!("--heatmaps needs image data (a folder of .png images)");
    };
    let Some(maps) = detector.anomaly_maps(data.input()?)? else {
        bail!(
            "--heatmaps: the `{}` method gives no pixel maps (use one that localizes, e.g. cutpaste)",
            detector.method()
        );
    };
    crate::heatmap::write(dir, pixels, *shape, names, &maps)?;
    eprintln!(
        "wrote {} heatmaps to {} (colour scale {:.4} .. {:.4} from held-out training pixel scores)",
        names.len(),
        dir.display(),
        maps.scale.0,
        maps.scale.1
    );
    Ok(())
}

/// The fit-time column options plus those given to `score`: a new label column
/// replaces the recorded one, dropped columns add up.
fn merge_csv(recorded: Option<&CsvOptions>, extra: CsvOptions) -> CsvOptions {
    let mut csv = recorded.cloned().unwrap_or_default();
    if extra.label_column.is_some() {
        csv.label_column = extra.label_column;
    }
    for column in extra.drop_columns {
        if !csv.drop_columns.contains(&column) {
            csv.drop_columns.push(column);
        }
    }
    csv
}

/// Reads the data to score; a label column recorded at fit time may be absent
/// from unlabelled data, which is then read without it.
fn read_for_scoring(path: &Path, csv: &CsvOptions, spec: Option<&InputSpec>) -> Result<Data> {
    match data::read(path, csv) {
        Ok(d) => Ok(d),
        Err(e) if csv.label_column.is_some() && spec.is_some() => {
            let unlabelled = CsvOptions {
                label_column: None,
                ..csv.clone()
            };
            match data::read(path, &unlabelled) {
                Ok(d)
                    if spec.is_some_and(|s| {
                        InputSpec::of(&d, CsvOptions::default()).shape == s.shape
                    }) =>
                {
                    Ok(d)
                }
                _ => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

fn write_scores(
    out: &Path,
    scores: &[f64],
    labels: Option<&[bool]>,
    decisions: Option<&[bool]>,
) -> Result<()> {
    let context = || format!("cannot write {}", out.display());
    let file = std::fs::File::create(out).with_context(context)?;
    let mut w = std::io::BufWriter::new(file);
    let mut header = String::from("index,score");
    if labels.is_some() {
        header.push_str(",label");
    }
    if decisions.is_some() {
        header.push_str(",decision");
    }
    writeln!(w, "{header}").with_context(context)?;
    for (i, s) in scores.iter().enumerate() {
        // `{}` prints the shortest string that parses back to the same f64.
        write!(w, "{i},{s}").with_context(context)?;
        if let Some(l) = labels {
            write!(w, ",{}", u8::from(l[i])).with_context(context)?;
        }
        if let Some(d) = decisions {
            write!(w, ",{}", u8::from(d[i])).with_context(context)?;
        }
        writeln!(w).with_context(context)?;
    }
    w.flush().with_context(context)
}

pub fn list_methods() {
    let width = ssad_methods::REGISTRY
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(0);
    for entry in ssad_methods::REGISTRY {
        println!("{:width$}  {}", entry.name, entry.description);
        println!("{:width$}  paper: {}", "", entry.paper);
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)?;
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn read_json_if_present<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is corrupt", path.display()))?;
    Ok(Some(value))
}
