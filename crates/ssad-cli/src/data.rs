//! Reading the user's data file: CSV, NPY, NPZ, `.mat` or a folder of PNG images.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use ssad_core::Matrix;
use ssad_methods::{ImageBatch, Input};

/// How CSV columns map to features, recorded in the model folder so that scoring
/// reads new files the way training did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsvOptions {
    /// A column holding 0/1 anomaly labels, excluded from the features.
    pub label_column: Option<String>,
    /// Columns that are not features (ids, timestamps).
    pub drop_columns: Vec<String>,
}

/// A data file read into memory.
pub enum Data {
    /// Feature rows, with feature names where the file has them and labels where it has them.
    Tabular {
        x: Matrix,
        names: Option<Vec<String>>,
        labels: Option<Vec<bool>>,
    },
    /// `(N, C, H, W)` images in `[0, 1]`, in file-name order, with their file stems.
    Images {
        data: Vec<f32>,
        shape: [usize; 4],
        names: Vec<String>,
    },
}

impl Data {
    /// The detector input borrowing this data.
    pub fn input(&self) -> Result<Input<'_>> {
        Ok(match self {
            Data::Tabular { x, .. } => Input::from(x),
            Data::Images { data, shape, .. } => Input::from(ImageBatch::new(data, *shape)?),
        })
    }

    /// The anomaly labels the file carries, if any.
    pub fn labels(&self) -> Option<&[bool]> {
        match self {
            Data::Tabular { labels, .. } => labels.as_deref(),
            Data::Images { .. } => None,
        }
    }

    /// One line describing the data, e.g. `500 rows x 6 columns`.
    pub fn describe(&self) -> String {
        match self {
            Data::Tabular { x, .. } => format!("{} rows x {} columns", x.rows(), x.cols()),
            Data::Images { shape, .. } => format!(
                "{} images of {}x{}x{} (C x H x W)",
                shape[0], shape[1], shape[2], shape[3]
            ),
        }
    }
}

/// Reads `path`, choosing the reader by extension (a folder is read as images).
pub fn read(path: &Path, csv: &CsvOptions) -> Result<Data> {
    if !path.exists() {
        bail!("data file {} does not exist", path.display());
    }
    if path.is_dir() {
        return read_image_folder(path);
    }
    let data = match extension(path).as_str() {
        "csv" | "txt" | "tsv" => read_csv(path, csv)?,
        "npy" => {
            let x = ssad_data::formats::read_npy(path)?.to_matrix(path)?;
            Data::Tabular {
                x,
                names: None,
                labels: None,
            }
        }
        "npz" => read_npz(path)?,
        "mat" => read_mat(path)?,
        other => bail!(
            "{}: unknown data format `.{other}`; use .csv, .npy, .npz, .mat or a folder of .png images",
            path.display()
        ),
    };
    if let Data::Tabular { x, names, .. } = &data {
        check_finite(x, names.as_deref(), path)?;
        if x.rows() == 0 {
            bail!("{}: no data rows", path.display());
        }
    }
    Ok(data)
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default()
}

/// Names the first NaN/Inf by row and column, counting rows from 1 after any header.
fn check_finite(x: &Matrix, names: Option<&[String]>, path: &Path) -> Result<()> {
    let cols = x.cols();
    if let Some(pos) = x.as_slice().iter().position(|v| !v.is_finite()) {
        let (row, col) = (pos / cols.max(1), pos % cols.max(1));
        let column = match names {
            Some(n) => format!("column `{}`", n[col]),
            None => format!("column {}", col + 1),
        };
        bail!(
            "{}: non-finite value {} in data row {}, {column}",
            path.display(),
            x.as_slice()[pos],
            row + 1
        );
    }
    Ok(())
}

fn read_npz(path: &Path) -> Result<Data> {
    let arrays = ssad_data::formats::read_npz(path)?;
    let Some(x) = arrays.get("X").or_else(|| arrays.get("x")) else {
        let names: Vec<&String> = arrays.keys().collect();
        bail!(
            "{}: no array `X` in the archive (it holds {names:?})",
            path.display()
        );
    };
    let x = x.to_matrix(&path.join("X.npy"))?;
    let labels = match arrays.get("y") {
        Some(y) => Some(y.to_anomaly_labels(&path.join("y.npy"))?),
        None => None,
    };
    Ok(Data::Tabular {
        x,
        names: None,
        labels,
    })
}

fn read_mat(path: &Path) -> Result<Data> {
    let file = ssad_data::formats::read_mat(path)?;
    let x = file.get("X")?.to_matrix(path)?;
    let labels = if file.arrays.iter().any(|a| a.name == "y") {
        Some(ssad_data::formats::read_mat_xy(path)?.y)
    } else {
        None
    };
    Ok(Data::Tabular {
        x,
        names: None,
        labels,
    })
}

/// A header is present when some field of the first record is not a number.
fn is_header(record: &csv::StringRecord) -> bool {
    record
        .iter()
        .any(|f| !f.trim().is_empty() && f.trim().parse::<f64>().is_err())
}

fn read_csv(path: &Path, options: &CsvOptions) -> Result<Data> {
    let delimiter = if extension(path) == "tsv" {
        b'\t'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut records = reader.records();
    let Some(first) = records.next() else {
        bail!("{}: the file is empty", path.display());
    };
    let first = first.with_context(|| format!("{}: bad CSV", path.display()))?;
    let width = first.len();
    let (names, mut pending) = if is_header(&first) {
        (first.iter().map(str::to_string).collect::<Vec<_>>(), None)
    } else {
        ((1..=width).map(|i| i.to_string()).collect(), Some(first))
    };
    let has_header = pending.is_none();
    let find = |name: &str| -> Result<usize> {
        names.iter().position(|n| n == name).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no column `{name}`; columns: {}",
                path.display(),
                names.join(", ")
            )
        })
    };
    let label = options.label_column.as_deref().map(find).transpose()?;
    let mut dropped = options
        .drop_columns
        .iter()
        .map(|c| find(c))
        .collect::<Result<Vec<_>>>()?;
    dropped.extend(label);
    let features: Vec<usize> = (0..width).filter(|c| !dropped.contains(c)).collect();
    if features.is_empty() {
        bail!("{}: no feature column left", path.display());
    }

    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut line = if has_header { 1 } else { 0 };
    loop {
        let record = match pending.take() {
            Some(r) => r,
            None => match records.next() {
                Some(r) => r.with_context(|| format!("{}: bad CSV", path.display()))?,
                None => break,
            },
        };
        line += 1;
        if record.len() != width {
            bail!(
                "{}: line {line} has {} fields, the first line has {width}",
                path.display(),
                record.len()
            );
        }
        for &c in &features {
            values.push(parse_field(&record[c], path, line, &names[c])?);
        }
        if let Some(c) = label {
            labels.push(parse_label(&record[c], path, line, &names[c])?);
        }
    }
    let rows = values.len() / features.len();
    let x = Matrix::new(values, rows, features.len())?;
    Ok(Data::Tabular {
        x,
        names: Some(features.iter().map(|&c| names[c].clone()).collect()),
        labels: label.map(|_| labels),
    })
}

fn parse_field(field: &str, path: &Path, line: usize, column: &str) -> Result<f32> {
    let value: f64 = field.parse().map_err(|_| {
        anyhow::anyhow!(
            "{}: line {line}, column `{column}`: `{field}` is not a number",
            path.display()
        )
    })?;
    if !value.is_finite() {
        bail!(
            "{}: line {line}, column `{column}`: non-finite value `{field}`",
            path.display()
        );
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok(value as f32)
}

/// 0/1 (or false/true, normal/anomaly) labels; anything else is an error, since
/// a silently misread label corrupts every metric.
pub fn parse_label(field: &str, path: &Path, line: usize, column: &str) -> Result<bool> {
    match field.to_ascii_lowercase().as_str() {
        "0" | "0.0" | "false" | "normal" => Ok(false),
        "1" | "1.0" | "true" | "anomaly" => Ok(true),
        _ => bail!(
            "{}: line {line}, column `{column}`: label `{field}` is not 0/1",
            path.display()
        ),
    }
}

/// Every `.png` of `dir`, in file-name order, as RGB `[0, 1]`; all must share one size.
fn read_image_folder(dir: &Path) -> Result<Data> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && extension(p) == "png")
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: the folder holds no .png image", dir.display());
    }
    let mut data = Vec::new();
    let mut size = None;
    for file in &files {
        let image = ssad_data::formats::load_image_chw(file)?;
        let this = (image.channels, image.height, image.width);
        match size {
            None => size = Some(this),
            Some(s) if s != this => bail!(
                "{}: image is {}x{}x{}, the first image is {}x{}x{} (C x H x W)",
                file.display(),
                this.0,
                this.1,
                this.2,
                s.0,
                s.1,
                s.2
            ),
            Some(_) => {}
        }
        data.extend_from_slice(&image.data);
    }
    let (c, h, w) = size.unwrap_or_default();
    let names = files
        .iter()
        .map(|f| {
            f.file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
        })
        .collect();
    Ok(Data::Images {
        data,
        shape: [files.len(), c, h, w],
        names,
    })
}
