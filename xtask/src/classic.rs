//! `cargo xtask classic`: every classic detector on every ADBench classical set,
//! transductively as PyOD's `decision_scores_` (fit on all rows, score all rows),
//! optionally side by side with PyOD itself.
//!
//! Protocol: `X` is z-scored with its own mean and (population) std, a std of 0
//! becoming 1, in `f64`, then stored as `f32`; AUROC is against `y == 1`.
//! With `--vs-pyod` the same `f32` matrices are written to raw files that
//! `xtask/py/pyod_classic.py` reads, so both sides see bit-identical input.
//!
//! Timings are of one fit+score, or the fastest of `--repeat R` on both sides
//! (a side stops repeating after a fit of more than a second). With R > 1, a
//! side whose runs are short keeps repeating until its runs add up to
//! `MIN_TIMED_SECONDS` (at most `MAX_RUNS` runs): a fit of a millisecond or
//! less is otherwise timed by whichever of R runs the scheduler left alone,
//! which on a shared machine decides the ratio more than the code does.
//! Each side first fits each detector once, untimed, on the first
//! `WARM_UP_ROWS` rows of the set (imports, JIT compilation, thread pools).
//! `--iforest-seeds S` runs IForest with seeds 0..S on both sides (ours:
//! `IForestConfig::seed`, PyOD: `random_state`) and compares mean AUROCs, since
//! one forest's AUROC is mostly seed noise. `--cap-rows N` replaces each larger
//! set by a seeded random subset of N rows (before z-scoring; both sides get it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use serde_json::{json, Value};
use ssad_core::{Matrix, Seed, Stream};
use ssad_scorers::{
    CopodConfig, EcodConfig, HbosConfig, IForestConfig, KdeConfig, KnnConfig, LofConfig,
    OcsvmConfig, PcaConfig, ScorerConfig,
};

use crate::project_root;

/// Detectors in table order.
const DETECTORS: [&str; 9] = [
    "knn", "lof", "iforest", "ocsvm", "pca", "kde", "ecod", "copod", "hbos",
];
/// `--repeat` stops repeating a fit that took longer than this (its time is already stable).
const REPEAT_UNTIL_SECONDS: f64 = 1.0;
/// With `--repeat` > 1, short fits repeat until their runs add up to this.
const MIN_TIMED_SECONDS: f64 = 0.3;
/// ... but no more than this many runs.
const MAX_RUNS: usize = 100;
/// Rows of the untimed warm-up fit before each detector's timed runs (both sides).
const WARM_UP_ROWS: usize = 64;
/// Above this many rows the O(n²)-memory-or-time detectors are skipped, as ADBench does.
const QUADRATIC_LIMIT: usize = 60_000;
const QUADRATIC: [&str; 2] = ["ocsvm", "kde"];

/// Arguments of `cargo xtask classic`.
#[derive(clap::Args)]
pub struct ClassicArgs {
    /// Folder of `.npz` files; default `$SSAD_DATA_DIR/adbench/classical`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where to write the JSON results.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Comma-separated detectors (default: all of knn,lof,iforest,ocsvm,pca,kde,ecod,copod,hbos).
    #[arg(long, value_delimiter = ',')]
    detectors: Vec<String>,
    /// Only datasets whose file stem contains one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    datasets: Vec<String>,
    /// Skip datasets with more rows than this.
    #[arg(long)]
    max_rows: Option<usize>,
    /// Also run PyOD (in a throwaway virtualenv under `target/pyod-venv`) and compare.
    #[arg(long)]
    vs_pyod: bool,
    /// A Python that already has pyod, scikit-learn, numpy and scipy (skips the venv).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Time the fastest of this many fit+score runs (both sides).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Run IForest with seeds 0..N on both sides and compare mean AUROCs.
    #[arg(long, default_value_t = 1)]
    iforest_seeds: u64,
    /// Replace sets with more rows by a seeded random subset of this many rows.
    #[arg(long)]
    cap_rows: Option<usize>,
    /// Also write the per-dataset table and the summary as Markdown here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// With --vs-pyod, also fit PyOD's deterministic detectors on this many
    /// seeded row permutations (untimed) and report the range of their AUROCs:
    /// how far PyOD's own result moves when ties are broken in another order.
    #[arg(long, default_value_t = 0)]
    pyod_row_orders: usize,
}

fn config(name: &str) -> Result<ScorerConfig> {
    Ok(match name {
        "knn" => KnnConfig::default().into(),
        "lof" => LofConfig::default().into(),
        "iforest" => IForestConfig::default().into(),
        "ocsvm" => OcsvmConfig::default().into(),
        "pca" => PcaConfig::default().into(),
        "kde" => KdeConfig::default().into(),
        "ecod" => EcodConfig::default().into(),
        "copod" => CopodConfig::default().into(),
        "hbos" => HbosConfig::default().into(),
        other => bail!("unknown detector {other:?}; known: {}", DETECTORS.join(",")),
    })
}

/// z-scores columns with their own mean and population std (0 → 1), in f64.
fn zscore(x: &Matrix) -> Matrix {
    let (n, d) = x.shape();
    let mut mean = vec![0.0f64; d];
    for row in x.iter_rows() {
        mean.iter_mut()
            .zip(row)
            .for_each(|(m, &v)| *m += f64::from(v));
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut var = vec![0.0f64; d];
    for row in x.iter_rows() {
        for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (f64::from(v) - m).powi(2);
        }
    }
    let std: Vec<f64> = var
        .iter()
        .map(|v| {
            let s = (v / n as f64).sqrt();
            if s == 0.0 {
                1.0
            } else {
                s
            }
        })
        .collect();
    let mut out = x.clone();
    for row in out.as_mut_slice().chunks_exact_mut(d.max(1)) {
        for ((v, m), s) in row.iter_mut().zip(&mean).zip(&std) {
            *v = ((f64::from(*v) - m) / s) as f32;
        }
    }
    out
}

struct Dataset {
    stem: String,
    x: Matrix,
    y: Vec<bool>,
    /// Rows of the file when `--cap-rows` subsampled it.
    full_rows: Option<usize>,
}

fn datasets(dir: &Path, args: &ClassicArgs) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "npz"))
        .filter(|p| {
            let stem = stem(p);
            args.datasets.is_empty() || args.datasets.iter().any(|d| stem.contains(d.as_str()))
        })
        .collect();
    // By ADBench number, so the table reads like the paper's.
    files.sort_by_key(|p| {
        let s = stem(p);
        let num: u32 = s
            .split('_')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(u32::MAX);
        (num, s)
    });
    Ok(files)
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn load(path: &Path, cap_rows: Option<usize>) -> Result<Dataset> {
    let labeled = ssad_data::formats::read_npz_xy(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let n = labeled.x.rows();
    let (x, y, full_rows) = match cap_rows {
        Some(cap) if n > cap => {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.shuffle(&mut Seed(0).rng(Stream::Subsample, 0, 0));
            idx.truncate(cap);
            idx.sort_unstable();
            let x = labeled.x.view().select_rows(&idx)?;
            let y = idx.iter().map(|&i| labeled.y[i]).collect();
            (x, y, Some(n))
        }
        _ => (labeled.x, labeled.y, None),
    };
    Ok(Dataset {
        stem: stem(path),
        x: zscore(&x),
        y,
        full_rows,
    })
}

fn run_rust(ds: &Dataset, name: &str, args: &ClassicArgs) -> Result<Value> {
    if QUADRATIC.contains(&name) && ds.x.rows() > QUADRATIC_LIMIT {
        return Ok(json!({"skipped": format!("n > {QUADRATIC_LIMIT}")}));
    }
    let seeds = if name == "iforest" {
        args.iforest_seeds.max(1)
    } else {
        1
    };
    let mut aurocs = Vec::new();
    let mut seconds = f64::INFINITY;
    // Untimed warm-up on a few rows (thread pool, page faults), as the Python
    // side warms up imports and JIT-compiled code: timed runs then compare
    // steady states.
    let head: Vec<usize> = (0..ds.x.rows().min(WARM_UP_ROWS)).collect();
    let warm = ds.x.view().select_rows(&head)?;
    let _ = config(name)?.fit_score(warm.view());
    for seed in 0..seeds {
        let cfg = match config(name)? {
            ScorerConfig::IForest(c) => IForestConfig { seed, ..c }.into(),
            other => other,
        };
        // Timed on seed 0 only; repeats refit the same model.
        let runs = if seed == 0 { args.repeat.max(1) } else { 1 };
        let mut scores = Vec::new();
        let (mut done, mut spent) = (0, 0.0);
        while done < runs || (runs > 1 && spent < MIN_TIMED_SECONDS && done < MAX_RUNS) {
            let start = Instant::now();
            let result = cfg.fit_score(ds.x.view());
            let took = start.elapsed().as_secs_f64();
            if seed == 0 {
                seconds = seconds.min(took);
            }
            (done, spent) = (done + 1, spent + took);
            match result {
                Ok((_, s)) => scores = s,
                Err(e) => return Ok(json!({"error": e.to_string()})),
            }
            if took > REPEAT_UNTIL_SECONDS {
                break;
            }
        }
        match ssad_eval::auroc(&scores, &ds.y) {
            Ok(a) => aurocs.push(a),
            Err(e) => return Ok(json!({"error": format!("auroc: {e}"), "seconds": seconds})),
        }
    }
    let mean = aurocs.iter().sum::<f64>() / aurocs.len() as f64;
    let mut v = json!({"auroc": mean, "seconds": seconds});
    if aurocs.len() > 1 {
        v["aurocs"] = json!(aurocs);
    }
    Ok(v)
}

/// Writes `x` as raw little-endian f32 for the Python side.
fn write_raw(ds: &Dataset, dir: &Path) -> Result<()> {
    let bytes: Vec<u8> =
        ds.x.as_slice()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
    std::fs::write(dir.join(format!("{}.f32", ds.stem)), bytes)?;
    let labels: Vec<u8> = ds.y.iter().map(|&b| u8::from(b)).collect();
    std::fs::write(dir.join(format!("{}.y", ds.stem)), labels)?;
    let meta = json!({"rows": ds.x.rows(), "cols": ds.x.cols()});
    std::fs::write(dir.join(format!("{}.json", ds.stem)), meta.to_string())?;
    Ok(())
}

/// A Python with PyOD: the given one, or a virtualenv under `target/pyod-venv`
/// created (and pip-installed) on first use.
fn pyod_python(args: &ClassicArgs) -> Result<PathBuf> {
    if let Some(p) = &args.python {
        return Ok(p.clone());
    }
    let venv = project_root().join("target").join("pyod-venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        crate::venv::create(&venv)?;
    }
    let has_pyod = Command::new(&python)
        .args(["-c", "import pyod, sklearn, numpy, scipy"])
        .stderr(std::process::Stdio::null())
        .status()?
        .success();
    if !has_pyod {
        let ok = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "pyod",
                "scikit-learn",
                "numpy",
                "scipy",
            ])
            .status()?
            .success();
        if !ok {
            bail!("pip install pyod scikit-learn numpy scipy failed");
        }
    }
    Ok(python)
}

fn run_pyod(args: &ClassicArgs, raw_dir: &Path, detectors: &[String]) -> Result<Value> {
    let python = pyod_python(args)?;
    let out = raw_dir.join("pyod.json");
    let script = project_root()
        .join("xtask")
        .join("py")
        .join("pyod_classic.py");
    let ok = Command::new(&python)
        .arg(&script)
        .arg("--input-dir")
        .arg(raw_dir)
        .arg("--json")
        .arg(&out)
        .arg("--detectors")
        .arg(detectors.join(","))
        .arg("--quadratic-limit")
        .arg(QUADRATIC_LIMIT.to_string())
        .arg("--repeat")
        .arg(args.repeat.max(1).to_string())
        .arg("--min-timed-seconds")
        .arg(MIN_TIMED_SECONDS.to_string())
        .arg("--max-runs")
        .arg(MAX_RUNS.to_string())
        .arg("--warm-up-rows")
        .arg(WARM_UP_ROWS.to_string())
        .arg("--iforest-seeds")
        .arg(args.iforest_seeds.max(1).to_string())
        .arg("--row-orders")
        .arg(args.pyod_row_orders.to_string())
        .status()
        .with_context(|| format!("running {}", script.display()))?
        .success();
    if !ok {
        bail!("{} failed", script.display());
    }
    let text = std::fs::read_to_string(&out)?;
    Ok(serde_json::from_str(&text)?)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    })
}

fn cell(v: &Value) -> String {
    match (v.get("auroc"), v.get("skipped"), v.get("error")) {
        (Some(a), _, _) => format!("{:.4}", a.as_f64().unwrap_or(f64::NAN)),
        (_, Some(_), _) => "skip".into(),
        (_, _, Some(_)) => "err".into(),
        _ => "-".into(),
    }
}

/// Runs the command.
pub fn run(args: ClassicArgs) -> Result<()> {
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            let root = std::env::var_os("SSAD_DATA_DIR")
                .map(PathBuf::from)
                .context("pass --data-dir or set SSAD_DATA_DIR")?;
            root.join("adbench").join("classical")
        }
    };
    let detectors: Vec<String> = if args.detectors.is_empty() {
        DETECTORS.iter().map(|s| s.to_string()).collect()
    } else {
        args.detectors.clone()
    };
    for d in &detectors {
        config(d)?;
    }
    if cfg!(debug_assertions) {
        // A dev build keeps overflow checks, incremental codegen and 256
        // codegen units even at opt-level 3: landsat's kNN took 27 ms there
        // and 17 ms in release, so dev timings understate what users get.
        eprintln!(
            "warning: timing a dev build (overflow checks on); for the figures \
             in docs/ run `cargo run --release -p xtask -- classic ...`"
        );
    }
    // One folder per run, so concurrent runs never read each other's inputs.
    let raw_dir = project_root()
        .join("target")
        .join("classic-input")
        .join(format!("run-{}", std::process::id()));
    if args.vs_pyod {
        if raw_dir.exists() {
            std::fs::remove_dir_all(&raw_dir)?;
        }
        std::fs::create_dir_all(&raw_dir)?;
    }
    let mut results = Vec::new();
    println!(
        "{:<22} {:>7} {:>5} {}",
        "dataset",
        "n",
        "d",
        detectors
            .iter()
            .map(|d| format!("{d:>8}"))
            .collect::<String>()
    );
    for path in datasets(&dir, &args)? {
        let ds = load(&path, args.cap_rows)?;
        if args.max_rows.is_some_and(|m| ds.x.rows() > m) {
            continue;
        }
        let mut per = BTreeMap::new();
        for name in &detectors {
            per.insert(name.clone(), run_rust(&ds, name, &args)?);
        }
        println!(
            "{:<22} {:>7} {:>5} {}",
            ds.stem,
            ds.x.rows(),
            ds.x.cols(),
            detectors
                .iter()
                .map(|d| format!("{:>8}", cell(&per[d])))
                .collect::<String>()
        );
        if args.vs_pyod {
            write_raw(&ds, &raw_dir)?;
        }
        results.push(json!({
            "dataset": ds.stem,
            "n": ds.x.rows(),
            "full_rows": ds.full_rows,
            "d": ds.x.cols(),
            "anomalies": ds.y.iter().filter(|&&b| b).count(),
            "detectors": per,
        }));
    }
    let mut summary = json!(null);
    if args.vs_pyod {
        let pyod = run_pyod(&args, &raw_dir, &detectors)?;
        summary = compare(&mut results, &pyod, &detectors);
        std::fs::remove_dir_all(&raw_dir)?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, markdown(&results, &summary, &detectors))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.json {
        let doc = json!({
            "protocol": "transductive: z-score X with its own mean/std (0 -> 1), fit on all rows, score all rows (PyOD decision_scores_), AUROC vs y",
            "build": if cfg!(debug_assertions) { "dev" } else { "release" },
            "repeat": args.repeat,
            "iforest_seeds": args.iforest_seeds,
            "pyod_row_orders": args.pyod_row_orders,
            "cap_rows": args.cap_rows,
            "results": results,
            "vs_pyod": summary,
        });
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Adds PyOD's numbers to `results`, prints differences, returns per-detector medians.
fn compare(results: &mut [Value], pyod: &Value, detectors: &[String]) -> Value {
    println!("\nAUROC(ours) - AUROC(PyOD), and PyOD time / our time:");
    println!(
        "{:<22} {}",
        "dataset",
        detectors
            .iter()
            .map(|d| format!("{d:>17}"))
            .collect::<String>()
    );
    let mut diffs: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut ratios: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut row_order_notes = Vec::new();
    // |ours − PyOD|, or the distance to PyOD's row-order range where measured.
    let mut order_aware: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in results.iter_mut() {
        let stem = r["dataset"].as_str().unwrap_or_default().to_owned();
        let mut line = format!("{stem:<22} ");
        for d in detectors {
            let theirs = &pyod[&stem][d];
            let ours = &r["detectors"][d];
            let (Some(a), Some(b)) = (ours["auroc"].as_f64(), theirs["auroc"].as_f64()) else {
                let why = if theirs.get("error").is_some() {
                    "pyod err"
                } else {
                    "-"
                };
                line.push_str(&format!("{why:>17}"));
                r["detectors"][d]["pyod"] = theirs.clone();
                continue;
            };
            let diff = a - b;
            let ratio = theirs["seconds"].as_f64().unwrap_or(f64::NAN)
                / ours["seconds"].as_f64().unwrap_or(f64::NAN);
            diffs.entry(d).or_default().push(diff);
            ratios.entry(d).or_default().push(ratio);
            line.push_str(&format!("{diff:>+9.4} {ratio:>6.1}x"));
            r["detectors"][d]["pyod"] = theirs.clone();
            r["detectors"][d]["auroc_diff"] = json!(diff);
            r["detectors"][d]["speedup"] = json!(ratio);
            let mut off = diff.abs();
            if let Some((lo, hi)) = row_order_range(theirs) {
                let beyond = (lo - a).max(a - hi).max(0.0);
                off = beyond;
                r["detectors"][d]["pyod_row_order_range"] = json!([lo, hi]);
                r["detectors"][d]["beyond_pyod_row_order_range"] = json!(beyond);
                row_order_notes.push(format!(
                    "  {stem} {d}: PyOD {lo:.4}..{hi:.4} over {} row orders; ours {a:.4}, {beyond:.4} outside",
                    theirs["row_order_aurocs"].as_array().map_or(0, Vec::len) + 1
                ));
            }
            order_aware.entry(d).or_default().push(off);
        }
        println!("{line}");
    }
    let mut summary = serde_json::Map::new();
    let mut line = format!("{:<22} ", "median");
    let mut worst = format!("{:<22} ", "max |diff|");
    for d in detectors {
        let diff = diffs.get(d.as_str()).cloned().unwrap_or_default();
        let max_abs = diff.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let med_diff = median(diff.clone());
        let mean_diff = (!diff.is_empty()).then(|| diff.iter().sum::<f64>() / diff.len() as f64);
        let med_ratio = median(ratios.get(d.as_str()).cloned().unwrap_or_default());
        line.push_str(&format!(
            "{:>+9.4} {:>6.1}x",
            med_diff.unwrap_or(f64::NAN),
            med_ratio.unwrap_or(f64::NAN)
        ));
        worst.push_str(&format!("{max_abs:>9.4} {:>7}", ""));
        let mut entry = json!({
            "median_auroc_diff": med_diff,
            "mean_auroc_diff": mean_diff,
            "max_abs_auroc_diff": max_abs,
            "median_speedup": med_ratio,
            "datasets_compared": diff.len(),
        });
        if !row_order_notes.is_empty() {
            let worst_off = order_aware
                .get(d.as_str())
                .map_or(0.0, |v| v.iter().fold(0.0f64, |m, x| m.max(*x)));
            entry["max_abs_auroc_diff_beyond_pyod_row_orders"] = json!(worst_off);
        }
        summary.insert(d.clone(), entry);
    }
    println!("{line}\n{worst}");
    if !row_order_notes.is_empty() {
        println!("PyOD's AUROC over row permutations (the given order included):");
        println!("{}", row_order_notes.join("\n"));
    }
    Value::Object(summary)
}

/// The lowest and highest AUROC PyOD gave over the given row order and the
/// permuted ones, when the run asked for permutations.
fn row_order_range(pyod: &Value) -> Option<(f64, f64)> {
    let base = pyod["auroc"].as_f64()?;
    let permuted = pyod["row_order_aurocs"].as_array()?;
    Some(
        permuted
            .iter()
            .filter_map(Value::as_f64)
            .fold((base, base), |(lo, hi), v| (lo.min(v), hi.max(v))),
    )
}

/// The per-dataset table (our AUROC, difference to PyOD, PyOD time / ours) and
/// the per-detector summary, as in `docs/classic-detectors.md`.
fn markdown(results: &[Value], summary: &Value, detectors: &[String]) -> String {
    let mut md = format!(
        "| dataset | n | d | {} |\n|---|---|---|{}\n",
        detectors.join(" | "),
        "---|".repeat(detectors.len())
    );
    for r in results {
        let n = match r["full_rows"].as_u64() {
            Some(full) => format!("{} of {full}", r["n"]),
            None => r["n"].to_string(),
        };
        md.push_str(&format!(
            "| {} | {n} | {} |",
            r["dataset"].as_str().unwrap_or("?"),
            r["d"]
        ));
        for d in detectors {
            let v = &r["detectors"][d];
            let range = match v["pyod_row_order_range"].as_array().map(Vec::as_slice) {
                Some([lo, hi]) => format!(
                    "; PyOD {:.4}–{:.4} over row orders",
                    lo.as_f64().unwrap_or(f64::NAN),
                    hi.as_f64().unwrap_or(f64::NAN)
                ),
                _ => String::new(),
            };
            let text = match (v["auroc"].as_f64(), v["auroc_diff"].as_f64()) {
                (Some(a), Some(diff)) => format!(
                    "{a:.4} ({diff:+.4}, {:.1}×{range})",
                    v["speedup"].as_f64().unwrap_or(f64::NAN)
                ),
                (Some(a), None) if v["pyod"].get("error").is_some() => {
                    format!("{a:.4} (PyOD failed)")
                }
                (Some(a), None) => format!("{a:.4}"),
                (None, _) if v.get("skipped").is_some() => "skipped".into(),
                (None, _) if v.get("error").is_some() => "error".into(),
                _ => "–".into(),
            };
            md.push_str(&format!(" {text} |"));
        }
        md.push('\n');
    }
    if summary.is_object() {
        md.push_str("\n| detector | datasets compared | median AUROC diff | mean AUROC diff | max abs AUROC diff | median speed-up (PyOD time / ours) |\n|---|---|---|---|---|---|\n");
        for d in detectors {
            let s = &summary[d];
            md.push_str(&format!(
                "| {d} | {} | {:+.5} | {:+.5} | {:.5} | {:.1}× |\n",
                s["datasets_compared"],
                s["median_auroc_diff"].as_f64().unwrap_or(f64::NAN),
                s["mean_auroc_diff"].as_f64().unwrap_or(f64::NAN),
                s["max_abs_auroc_diff"].as_f64().unwrap_or(f64::NAN),
                s["median_speedup"].as_f64().unwrap_or(f64::NAN),
            ));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_order_range_spans_the_given_and_the_permuted_orders() {
        let pyod = json!({"auroc": 0.617, "row_order_aurocs": [0.5674, 0.5618, 0.5966]});
        assert_eq!(row_order_range(&pyod), Some((0.5618, 0.617)));
        // Without permutations (the default run) there is no range.
        assert_eq!(row_order_range(&json!({"auroc": 0.6})), None);
    }
}
