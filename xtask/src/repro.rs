//! `cargo xtask repro SPEC`: reproduce a paper's table from `benches/SPEC.toml`
//! into `docs/results/SPEC.md` (paper vs ours) and `docs/results/SPEC.json`.
//!
//! A spec names datasets, methods (any entry of the `ssad-methods` registry),
//! the metric, the seeds and the paper's numbers with their source. Every
//! (dataset, method) pair is run for every seed under the spec's protocol;
//! rows report mean ± population std over seeds, in percent.
//! `--quick` applies the spec's `[quick]` overrides (fewer seeds, capped epochs,
//! subsampled large sets) and labels every row with the reduced setting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use serde::Deserialize;
use serde_json::{json, Value};
use ssad_core::{Seed, Stream};
use ssad_data::protocols::{goad_kdd, goad_kddrev, goad_tabular, Split};
use ssad_methods::{GoadPreset, Input};

use crate::project_root;

/// Arguments of `cargo xtask repro`.
#[derive(clap::Args)]
pub struct ReproArgs {
    /// Spec name: reads `benches/SPEC.toml`.
    spec: String,
    /// Run the spec's reduced `[quick]` setting (CI-sized).
    #[arg(long)]
    quick: bool,
    /// Override the number of seeds.
    #[arg(long)]
    seeds: Option<u64>,
    /// The data root [default: $SSAD_DATA_DIR, else ../shared/datasets beside the workspace].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Only datasets whose name contains one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    datasets: Vec<String>,
    /// Write the results here instead of `docs/results/`.
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    title: String,
    protocol: String,
    metric: Metric,
    seeds: u64,
    paper_source: String,
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    quick: Quick,
    methods: Vec<MethodSpec>,
    datasets: Vec<DatasetSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Metric {
    /// F1 at the test contamination (GOAD, DAGMM).
    F1,
    /// Area under the ROC curve.
    Auroc,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Quick {
    seeds: Option<u64>,
    /// Cap on every trained method's epochs.
    epochs: Option<usize>,
    /// Training rows kept (random subsample) when a set has more.
    max_train: Option<usize>,
    /// Test rows kept (random subsample, contamination kept approximately) when a set has more.
    max_test: Option<usize>,
    /// Datasets with more rows than this are skipped.
    max_rows: Option<usize>,
    /// Describes the reduced setting in the `setting` column.
    label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodSpec {
    /// Column label, e.g. `GOAD` or `kNN`.
    label: String,
    /// Registry name.
    method: String,
    /// JSON config (merged over the preset for GOAD).
    #[serde(default)]
    config: Option<toml::Value>,
    /// GOAD: use the preset named like the dataset when there is one.
    #[serde(default)]
    preset_by_dataset: bool,
    /// Run only on these datasets.
    #[serde(default)]
    only: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetSpec {
    name: String,
    /// `odds/<name>.mat`, `kddcup99/...`, or `adbench/classical/<file>.npz`, relative to the data root.
    file: String,
    /// Split: `goad` (first half of normals trains), `kdd`, `kddrev`.
    split: String,
    /// Paper numbers by method label.
    #[serde(default)]
    paper: BTreeMap<String, f64>,
    /// Reference-code numbers measured on this machine, by method label (shown in the Markdown).
    #[serde(default)]
    reference: BTreeMap<String, String>,
}

/// Entry point of `cargo xtask repro`.
pub fn run(args: ReproArgs) -> Result<()> {
    let root = project_root();
    let spec_path = root.join("benches").join(format!("{}.toml", args.spec));
    let text = std::fs::read_to_string(&spec_path)
        .with_context(|| format!("reading {}", spec_path.display()))?;
    let spec: Spec =
        toml::from_str(&text).with_context(|| format!("parsing {}", spec_path.display()))?;
    let data_root = args
        .data_dir
        .clone()
        .or_else(|| std::env::var_os("SSAD_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(|| root.join("..").join("shared").join("datasets"));
    let seeds = args.seeds.unwrap_or(if args.quick {
        spec.quick.seeds.unwrap_or(spec.seeds)
    } else {
        spec.seeds
    });
    if seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let setting = if args.quick {
        spec.quick
            .label
            .clone()
            .unwrap_or_else(|| "quick".to_string())
    } else if args.seeds.is_some_and(|s| s < spec.seeds) {
        format!("paper settings, {seeds} seeds")
    } else {
        "paper".to_string()
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    for dataset in &spec.datasets {
        if !args.datasets.is_empty() && !args.datasets.iter().any(|d| dataset.name.contains(d)) {
            continue;
        }
        let path = data_root.join(&dataset.file);
        if !path.exists() {
            eprintln!("skipping {}: {} not found", dataset.name, path.display());
            continue;
        }
        let loaded = Loaded::read(&path, &dataset.split)
            .with_context(|| format!("reading {}", path.display()))?;
        if let (true, Some(max)) = (args.quick, spec.quick.max_rows) {
            if loaded.rows() > max {
                eprintln!(
                    "skipping {} in quick mode: {} rows > {max}",
                    dataset.name,
                    loaded.rows()
                );
                continue;
            }
        }
        for method in &spec.methods {
            if !method.only.is_empty() && !method.only.contains(&dataset.name) {
                continue;
            }
            let t = Instant::now();
            let mut values = Vec::new();
            for seed in 0..seeds {
                let split = loaded.split(Seed(seed))?;
                let split = if args.quick {
                    subsample(split, &spec.quick, Seed(seed))?
                } else {
                    split
                };
                let m = build_method(method, &dataset.name, args.quick.then_some(&spec.quick))?;
                let detector = m.fit(Input::from(&split.train), Seed(seed))?;
                let scores = detector.score(Input::from(&split.test))?;
                let value = match spec.metric {
                    Metric::F1 => ssad_eval::f1_at_contamination(&scores, &split.test_labels)?.f1,
                    Metric::Auroc => ssad_eval::auroc(&scores, &split.test_labels)?,
                };
                values.push(100.0 * value);
            }
            let (mean, std) = mean_std(&values);
            eprintln!(
                "{:<14} {:<10} {mean:6.2} ± {std:5.2}  ({seeds} seeds, {:.1} s)",
                dataset.name,
                method.label,
                t.elapsed().as_secs_f64()
            );
            rows.push(Row {
                dataset: dataset.name.clone(),
                method: method.label.clone(),
                paper: dataset.paper.get(&method.label).copied(),
                reference: dataset.reference.get(&method.label).cloned(),
                mean,
                std,
                seconds: t.elapsed().as_secs_f64(),
            });
        }
    }
    if rows.is_empty() {
        bail!(
            "no dataset of the spec was found under {}",
            data_root.display()
        );
    }
    let wall = started.elapsed().as_secs_f64();
    let machine = machine();
    let git = git_sha(&root);
    let command = command_line(&args);
    let metric = match spec.metric {
        Metric::F1 => "f1",
        Metric::Auroc => "auroc",
    };
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| root.join("docs").join("results"));
    std::fs::create_dir_all(&out_dir)?;
    let json_rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "dataset": r.dataset, "class": Value::Null, "method": r.method, "metric": metric,
                "paper": r.paper, "ours_mean": round2(r.mean), "ours_std": round2(r.std),
                "seeds": seeds, "setting": setting,
            })
        })
        .collect();
    let doc = json!({
        "spec": args.spec, "machine": machine, "git": git, "quick": args.quick,
        "wall_seconds": round2(wall), "rows": json_rows,
    });
    std::fs::write(
        out_dir.join(format!("{}.json", args.spec)),
        serde_json::to_string_pretty(&doc)? + "\n",
    )?;
    let md = markdown(
        &spec, &args.spec, &rows, metric, seeds, &setting, &machine, &git, wall, &command,
    );
    std::fs::write(out_dir.join(format!("{}.md", args.spec)), &md)?;
    println!("{md}");
    Ok(())
}

struct Row {
    dataset: String,
    method: String,
    paper: Option<f64>,
    reference: Option<String>,
    mean: f64,
    std: f64,
    seconds: f64,
}

/// A dataset read once, split per seed.
enum Loaded {
    Tabular(ssad_data::Labeled),
    Kdd(Box<ssad_data::formats::Kdd>, bool),
}

impl Loaded {
    fn read(path: &Path, split: &str) -> Result<Self> {
        Ok(match split {
            "goad" => Loaded::Tabular(match path.extension().and_then(|e| e.to_str()) {
                Some("mat") => ssad_data::formats::read_mat_xy(path)?,
                Some("npz") => ssad_data::formats::read_npz_xy(path)?,
                other => bail!("no reader for extension {other:?}"),
            }),
            "kdd" | "kddrev" => Loaded::Kdd(
                Box::new(ssad_data::formats::read_kdd(path)?),
                split == "kddrev",
            ),
            other => bail!("unknown split {other:?} (goad, kdd, kddrev)"),
        })
    }

    fn rows(&self) -> usize {
        match self {
            Loaded::Tabular(d) => d.len(),
            Loaded::Kdd(k, _) => k.x.rows(),
        }
    }

    fn split(&self, seed: Seed) -> Result<Split> {
        Ok(match self {
            Loaded::Tabular(d) => goad_tabular(d)?,
            Loaded::Kdd(k, false) => goad_kdd(k, seed)?,
            Loaded::Kdd(k, true) => goad_kddrev(k, seed)?,
        })
    }
}

fn build_method(
    spec: &MethodSpec,
    dataset: &str,
    quick: Option<&Quick>,
) -> Result<Box<dyn ssad_methods::Method>> {
    let mut config = match spec.config.as_ref() {
        Some(c) => serde_json::to_value(c)?,
        None => json!({}),
    };
    if spec.method == "goad" {
        let preset = GoadPreset::from_name(dataset)
            .ok()
            .filter(|_| spec.preset_by_dataset);
        let base = ssad_methods::GoadConfig::preset(preset.unwrap_or(GoadPreset::Thyroid));
        let mut merged = serde_json::to_value(base)?;
        if let (Value::Object(m), Value::Object(over)) = (&mut merged, &config) {
            m.extend(over.clone());
        }
        if let (Some(cap), Value::Object(m)) = (quick.and_then(|q| q.epochs), &mut merged) {
            let epochs = m.get("epochs").and_then(Value::as_u64).unwrap_or(1) as usize;
            m.insert("epochs".into(), json!(epochs.min(cap)));
        }
        config = merged;
    }
    Ok(ssad_methods::method(&spec.method, Some(config))?)
}

/// Keeps at most `max_train` training rows and `max_test` test rows, drawn at random.
fn subsample(split: Split, quick: &Quick, seed: Seed) -> Result<Split> {
    let pick = |n: usize, max: Option<usize>, stream: u64| -> Option<Vec<usize>> {
        let max = max?;
        if n <= max {
            return None;
        }
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(&mut seed.rng(Stream::Subsample, 7, stream));
        idx.truncate(max);
        idx.sort_unstable();
        Some(idx)
    };
    let train = match pick(split.train.rows(), quick.max_train, 0) {
        Some(idx) => split.train.view().select_rows(&idx)?,
        None => split.train,
    };
    let (test, test_labels) = match pick(split.test.rows(), quick.max_test, 1) {
        Some(idx) => (
            split.test.view().select_rows(&idx)?,
            idx.iter().map(|&i| split.test_labels[i]).collect(),
        ),
        None => (split.test, split.test_labels),
    };
    Ok(Split {
        train,
        test,
        test_labels,
    })
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// `lscpu`'s model name and CPU count, e.g. `AMD EPYC 9B14, 2 CPUs`.
fn machine() -> String {
    let out = Command::new("lscpu")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let field = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
    };
    match (field("Model name:"), field("CPU(s):")) {
        (Some(model), Some(cpus)) => format!("{model}, {cpus} CPUs"),
        _ => std::env::consts::ARCH.to_string(),
    }
}

fn git_sha(root: &Path) -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let sha = run(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{sha}-dirty")
    } else {
        sha
    }
}

fn command_line(args: &ReproArgs) -> String {
    let mut cmd = format!("cargo xtask repro {}", args.spec);
    if args.quick {
        cmd.push_str(" --quick");
    }
    if let Some(s) = args.seeds {
        cmd.push_str(&format!(" --seeds {s}"));
    }
    if !args.datasets.is_empty() {
        cmd.push_str(&format!(" --datasets {}", args.datasets.join(",")));
    }
    cmd
}

#[allow(clippy::too_many_arguments)]
fn markdown(
    spec: &Spec,
    name: &str,
    rows: &[Row],
    metric: &str,
    seeds: u64,
    setting: &str,
    machine: &str,
    git: &str,
    wall: f64,
    command: &str,
) -> String {
    let metric_name = if metric == "f1" {
        "F1 (%)"
    } else {
        "AUROC (%)"
    };
    let mut md = format!("# {}\n\n", spec.title);
    md.push_str(&format!(
        "- Spec: `benches/{name}.toml`; protocol: {}\n- Metric: {metric_name}, mean ± std over {seeds} seed(s); setting: **{setting}**\n- Paper numbers: {}\n",
        spec.protocol, spec.paper_source
    ));
    md.push_str(&format!(
        "- Command: `{command}`\n- Machine: {machine}; git `{git}`; wall time {wall:.0} s\n"
    ));
    for note in &spec.notes {
        md.push_str(&format!("- {note}\n"));
    }
    let with_reference = rows.iter().any(|r| r.reference.is_some());
    md.push_str(&format!(
        "\n| dataset | method | paper | ours | seconds |{}\n|---|---|---|---|---|{}\n",
        if with_reference {
            " reference code, this machine |"
        } else {
            ""
        },
        if with_reference { "---|" } else { "" }
    ));
    for r in rows {
        let paper = r.paper.map_or("–".to_string(), |p| format!("{p:.1}"));
        md.push_str(&format!(
            "| {} | {} | {paper} | {:.1} ± {:.1} | {:.1} |",
            r.dataset, r.method, r.mean, r.std, r.seconds
        ));
        if with_reference {
            md.push_str(&format!(" {} |", r.reference.as_deref().unwrap_or("–")));
        }
        md.push('\n');
    }
    md
}
