//! `ssad eval`: metrics of a scores file against anomaly labels.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::data::parse_label;

pub fn run(scores_path: &Path, labels: Option<&str>, plot: Option<&Path>) -> Result<()> {
    let (scores, own_labels) = read_scores(scores_path)?;
    let labels = match labels {
        Some(spec) => read_labels(spec)?,
        None => own_labels.with_context(|| {
            format!(
                "{} has no `label` column; pass --labels FILE[:COLUMN]",
                scores_path.display()
            )
        })?,
    };
    if labels.len() != scores.len() {
        bail!("{} scores but {} labels", scores.len(), labels.len());
    }
    let report = ssad_eval::summary(&scores, &labels)?;
    let f1 = &report.f1_at_contamination;
    println!("AUROC       {:.4}", report.auroc);
    println!("AP          {:.4}", report.average_precision);
    println!(
        "F1          {:.4}  (precision {:.4}, recall {:.4}, threshold {:.6} at the test contamination)",
        f1.f1, f1.precision, f1.recall, f1.threshold
    );
    println!("FPR@95%TPR  {:.4}", report.fpr_at_95_tpr);
    println!(
        "samples     {} ({} anomalies)",
        report.n, report.n_anomalies
    );
    if let Some(path) = plot {
        let roc = ssad_eval::roc_curve(&scores, &labels)?;
        crate::plot::draw(path, &roc, report.auroc, &scores, &labels)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The `score` column, and the `label` column when present.
fn read_scores(path: &Path) -> Result<(Vec<f64>, Option<Vec<bool>>)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{}: bad CSV", path.display()))?
        .clone();
    let find = |name: &str| headers.iter().position(|h| h == name);
    let Some(score_col) = find("score") else {
        bail!(
            "{}: no `score` column (columns: {})",
            path.display(),
            headers.iter().collect::<Vec<_>>().join(", ")
        );
    };
    let label_col = find("label");
    let mut scores = Vec::new();
    let mut labels = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("{}: bad CSV", path.display()))?;
        let field = record.get(score_col).unwrap_or("");
        let score: f64 = field.parse().map_err(|_| {
            anyhow::anyhow!(
                "{}: line {line}: score `{field}` is not a number",
                path.display()
            )
        })?;
        scores.push(score);
        if let Some(c) = label_col {
            labels.push(parse_label(
                record.get(c).unwrap_or(""),
                path,
                line,
                "label",
            )?);
        }
    }
    Ok((scores, label_col.map(|_| labels)))
}

/// `FILE[:COLUMN]`: the suffix is a column only when the whole string is not a file.
fn split_spec(spec: &str) -> (&Path, Option<&str>) {
    if !Path::new(spec).exists() {
        if let Some((file, column)) = spec.rsplit_once(':') {
            if !column.contains('/') && !column.is_empty() {
                return (Path::new(file), Some(column));
            }
        }
    }
    (Path::new(spec), None)
}

fn read_labels(spec: &str) -> Result<Vec<bool>> {
    let (path, column) = split_spec(spec);
    if !path.exists() {
        bail!("labels file {} does not exist", path.display());
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "npy" => ssad_data::formats::read_npy(path)?.to_anomaly_labels(path)?,
        "npz" => {
            let name = column.unwrap_or("y");
            ssad_data::formats::read_npz_array(path, name)?
                .to_anomaly_labels(&path.join(format!("{name}.npy")))?
        }
        "mat" => {
            let name = column.unwrap_or("y");
            let file = ssad_data::formats::read_mat(path)?;
            let var = file.get(name)?;
            var.values
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    if v == 0.0 || v == 1.0 {
                        Ok(v == 1.0)
                    } else {
                        bail!("{}: `{name}`[{i}] = {v} is not a 0/1 label", path.display())
                    }
                })
                .collect::<Result<_>>()?
        }
        _ => read_csv_labels(path, column.unwrap_or("label"))?,
    })
}

fn read_csv_labels(path: &Path, column: &str) -> Result<Vec<bool>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{}: bad CSV", path.display()))?
        .clone();
    let col = headers.iter().position(|h| h == column).with_context(|| {
        format!(
            "{}: no column `{column}` (columns: {})",
            path.display(),
            headers.iter().collect::<Vec<_>>().join(", ")
        )
    })?;
    reader
        .records()
        .enumerate()
        .map(|(i, record)| {
            let record = record.with_context(|| format!("{}: bad CSV", path.display()))?;
            parse_label(record.get(col).unwrap_or(""), path, i + 2, column)
        })
        .collect()
}
