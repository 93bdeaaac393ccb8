//! `cargo xtask repro SPEC`: reproduce a paper's table from `benches/SPEC.toml`
//! into `docs/results/SPEC.md` (paper vs ours) and `docs/results/SPEC.json`.
//!
//! A spec names datasets, methods (any entry of the `ssad-methods` registry),
//! the metric, the seeds and the paper's numbers with their source. Every
//! (dataset, method) pair is run for every seed under the spec's protocol;
//! rows report mean ± population std over seeds, in percent.
//! `--quick` applies the spec's `[quick]` overrides (fewer seeds, capped epochs,
//! subsampled large sets), labels every row with the reduced setting and writes
//! `docs/results/SPEC-quick.{md,json}`; `--setting NAME` applies the table
//! `[settings.NAME]` (same keys) instead and writes `docs/results/SPEC-NAME.{md,json}`.
//!
//! Datasets are tabular (`kind = "tabular"`, the default: `file` + `split`) or
//! one-class image sets (`kind = "fashion-mnist"` or `"cifar10"`, `split =
//! "one-class"`): for each class of `classes` (default: all ten) the method trains
//! on that class's training images and is scored on the whole test set, the other
//! classes being anomalies; rows per class plus a `mean` row (per seed, the mean
//! over classes; then mean ± std over seeds). Image keys: `pad` (pixels added on
//! every side, value 0 before scaling, as GEOM pads Fashion-MNIST 28 -> 32),
//! `resize` (square side, bilinear like PyTorch's `align_corners=False`, after
//! padding), `scale` (`"minus_one_one"`: GEOM/GOAD's `x / 127.5 - 1`, or
//! `"zero_one"`), `paper_classes` (paper numbers per class, by method label).
//! Fashion-MNIST is found through the `fashion-mnist` manifest of `datasets/`
//! (data root, then the Debian package's folder); CIFAR-10 needs the binary
//! version (`data_batch_1.bin`..`data_batch_5.bin`, `test_batch.bin`) in
//! `cifar10/cifar-10-batches-bin` under the data root (or `file`).
//!
//! Resumable: every finished seed of a tabular dataset is stored under
//! `target/repro-cache/` (keyed by the resolved method config and the data
//! protocol) and reused by the next run, so a run of many hours can stop and
//! go on in another session; the results list every row, computed or cached,
//! and name the cached seeds with their git revision and date. GOAD also
//! checkpoints every epoch under `target/repro-cache/<stem>/runs/`, so a seed
//! stopped mid-training resumes from its last epoch. `--fresh` recomputes
//! everything. Rows of datasets left out by `--datasets` are still
//! reported when all their seeds are in the cache, so a partial run never
//! drops rows an earlier run produced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use serde::Deserialize;
use serde_json::{json, Value};
use ssad_core::{Seed, Stream};
use ssad_data::formats::ImageSet;
use ssad_data::protocols::{goad_kdd, goad_kddrev, goad_tabular, one_class_split, Split};
use ssad_methods::{GoadPreset, ImageBatch, Input};

use crate::project_root;

#[path = "repro_mvtec.rs"]
mod mvtec;

#[path = "repro_cache.rs"]
mod cache;

/// Arguments of `cargo xtask repro`.
#[derive(clap::Args)]
pub struct ReproArgs {
    /// Spec name: reads `benches/SPEC.toml`.
    spec: String,
    /// Run the spec's reduced `[quick]` setting (CI-sized).
    #[arg(long, conflicts_with = "setting")]
    quick: bool,
    /// Run the spec's reduced setting `[settings.NAME]`; results go to `SPEC-NAME.{md,json}`.
    #[arg(long)]
    setting: Option<String>,
    /// Override the number of seeds.
    #[arg(long)]
    seeds: Option<u64>,
    /// The data root [default: $SSAD_DATA_DIR, else ../shared/datasets beside the workspace].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Only these datasets (comma-separated): a name that is some dataset's
    /// exact name selects that one (`kdd` is not `kddrev`); any other selects
    /// the datasets whose name contains it.
    #[arg(long, value_delimiter = ',')]
    datasets: Vec<String>,
    /// Recompute every seed instead of reusing the per-seed results stored
    /// under `target/repro-cache/` (tabular datasets; see `repro_cache.rs`).
    #[arg(long)]
    fresh: bool,
    /// Print the trainer's per-epoch lines (epoch, loss, seconds) to stderr.
    #[arg(long)]
    log_epochs: bool,
    /// Write the results here instead of `docs/results/`.
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// `I/N`: compute only the uncached seeds `s` with `s % N == I`, reading
    /// the others from the cache. Run N such processes side by side, each
    /// with `RAYON_NUM_THREADS` = cores / N (set to that when unset): on 2
    /// cores, two one-thread GOAD KDDRev seeds side by side took 290 s per
    /// epoch each, where one two-thread seed takes about 260 s: 1.8x the
    /// seeds per hour, because its GEMM shapes scale poorly over threads. The results are written by the run that finds
    /// every seed done, whichever shard that is.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<Shard>,
    /// MVTec specs: the category folder to run instead of the spec's.
    #[arg(long)]
    mvtec_category: Option<PathBuf>,
    /// MVTec specs: evaluate the model already saved in a variant's model
    /// folder (e.g. by `ssad fit --out`) when its config is the one to run,
    /// instead of fitting it again; its fit time is then not known.
    #[arg(long)]
    reuse_models: bool,
}

/// `--shard I/N`: this process's share of the seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    fn owns(self, seed: u64) -> bool {
        seed % self.count == self.index
    }
}

fn parse_shard(text: &str) -> std::result::Result<Shard, String> {
    let (index, count) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}`: expected I/N, e.g. 0/2"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|e| format!("`{text}`: {e}"))
    };
    let (index, count) = (parse(index)?, parse(count)?);
    if count == 0 || index >= count {
        return Err(format!("`{text}`: need 0 <= I < N"));
    }
    Ok(Shard { index, count })
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
    /// Named reduced settings, chosen with `--setting NAME`.
    #[serde(default)]
    settings: BTreeMap<String, Quick>,
    /// Also print a datasets × methods table with a mean row (many datasets, no paper numbers).
    #[serde(default)]
    pivot: bool,
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
    /// Image sets: only these normal classes.
    classes: Option<Vec<u8>>,
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
    /// Config overrides per reduced setting (`quick` or a `[settings]` name),
    /// merged over `config`, e.g. a smaller backbone.
    #[serde(default)]
    settings: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetSpec {
    name: String,
    /// Reader: `tabular` (default), `fashion-mnist` or `cifar10`.
    #[serde(default)]
    kind: DataKind,
    /// `odds/<name>.mat`, `kddcup99/...`, or `adbench/classical/<file>.npz`, relative to the
    /// data root; for image sets an optional folder (see the module doc).
    #[serde(default)]
    file: String,
    /// Split: `goad` (first half of normals trains), `random_half` (a seeded random
    /// half of the normals trains), `kdd`, `kddrev`; `one-class` for images.
    split: String,
    /// Image sets: the normal classes to run (default: all).
    #[serde(default)]
    classes: Option<Vec<u8>>,
    /// Image sets: pixels added on every side (value 0 before scaling).
    #[serde(default)]
    pad: usize,
    /// Image sets: resize to this square side after padding.
    #[serde(default)]
    resize: Option<usize>,
    /// Image sets: pixel scaling.
    #[serde(default)]
    scale: PixelScale,
    /// Paper numbers by method label (image sets: the mean over classes).
    #[serde(default)]
    paper: BTreeMap<String, f64>,
    /// Image sets: paper numbers per class (index order), by method label.
    #[serde(default)]
    paper_classes: BTreeMap<String, Vec<f64>>,
    /// Reference-code numbers measured on this machine, by method label (shown in the Markdown).
    #[serde(default)]
    reference: BTreeMap<String, String>,
}

/// Entry point of `cargo xtask repro`.
pub fn run(args: ReproArgs) -> Result<()> {
    if args.log_epochs {
        // Fails only if a subscriber is already set, which then logs instead.
        let _ = tracing::subscriber::set_global_default(cache::EpochLog);
    }
    let root = project_root();
    let spec_path = root.join("benches").join(format!("{}.toml", args.spec));
    let text = std::fs::read_to_string(&spec_path)
        .with_context(|| format!("reading {}", spec_path.display()))?;
    if mvtec::is_mvtec(&text) {
        let data_root = args
            .data_dir
            .clone()
            .or_else(|| std::env::var_os("SSAD_DATA_DIR").map(PathBuf::from))
            .unwrap_or_else(|| root.join("..").join("shared").join("datasets"));
        return mvtec::run(&args, &text, &data_root);
    }
    let spec: Spec =
        toml::from_str(&text).with_context(|| format!("parsing {}", spec_path.display()))?;
    let data_root = args
        .data_dir
        .clone()
        .or_else(|| std::env::var_os("SSAD_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(|| root.join("..").join("shared").join("datasets"));
    // The reduced setting, if any: `--quick` or `--setting NAME`.
    let reduced: Option<(&str, &Quick)> = match (&args.setting, args.quick) {
        (Some(name), _) => Some((
            name.as_str(),
            spec.settings.get(name).with_context(|| {
                format!(
                    "the spec has no [settings.{name}] (it has: {})",
                    spec.settings.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?,
        )),
        (None, true) => Some(("quick", &spec.quick)),
        (None, false) => None,
    };
    let seeds = args.seeds.unwrap_or(match reduced {
        Some((_, q)) => q.seeds.unwrap_or(spec.seeds),
        None => spec.seeds,
    });
    if seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let setting = if let Some((name, q)) = reduced {
        q.label.clone().unwrap_or_else(|| name.to_string())
    } else if args.seeds.is_some_and(|s| s < spec.seeds) {
        format!("paper settings, {seeds} seeds")
    } else {
        "paper".to_string()
    };
    let ctx = RunCtx {
        reduced,
        seeds,
        metric: spec.metric,
        shard: args.shard,
    };
    if let Some(shard) = args.shard {
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
            // Read once by rayon and candle, neither of which has started yet.
            std::env::set_var(
                "RAYON_NUM_THREADS",
                (cores / shard.count).max(1).to_string(),
            );
        }
    }
    // A reduced run never overwrites the paper-setting results of the same spec.
    let stem = match (&args.setting, args.quick) {
        (Some(name), _) => format!("{}-{name}", args.spec),
        (None, true) => format!("{}-quick", args.spec),
        (None, false) => args.spec.clone(),
    };
    let cache = cache::Cache::new(&root, &stem, args.fresh);
    let git = git_sha(&root);
    let names: Vec<&str> = spec.datasets.iter().map(|d| d.name.as_str()).collect();
    let started = Instant::now();
    // A shard looks for the other shards' seeds before training its own, so
    // seeds stored meanwhile are missed: one more pass, from the cache, finds
    // them, and the last shard to finish writes the table whatever its index.
    let mut rescanned = false;
    let (rows, skipped) = loop {
        let mut rows = Vec::new();
        let mut skipped = Vec::new();
        let mut waiting = Vec::new();
        for dataset in &spec.datasets {
            if !selected(&args.datasets, &dataset.name, &names) {
                // Left out of this run: report it from the cache if it is all there.
                if dataset.kind == DataKind::Tabular {
                    let file = data_root.join(&dataset.file);
                    let tab = TabularCtx {
                        ctx: &ctx,
                        dataset,
                        file: &file,
                        cache: &cache,
                        git: &git,
                    };
                    for method in &spec.methods {
                        if let Some(row) = run_tabular(&tab, method, None, &mut waiting)? {
                            rows.push(row);
                        } else if method.only.is_empty() || method.only.contains(&dataset.name) {
                            skipped.push(format!(
                                "{} / {}: left out of this run (`--datasets`), and not all \
                                 of its seeds are in the cache yet",
                                dataset.name, method.label
                            ));
                        }
                    }
                }
                continue;
            }
            if dataset.kind != DataKind::Tabular {
                match ImageData::read(&root, &data_root, dataset)? {
                    Ok(images) => rows.extend(run_images(&ctx, &spec, dataset, &images)?),
                    Err(why) => {
                        eprintln!("skipping {}: {why}", dataset.name);
                        skipped.push(format!("{}: {why}", dataset.name));
                    }
                }
                continue;
            }
            let path = data_root.join(&dataset.file);
            if !path.exists() {
                eprintln!("skipping {}: {} not found", dataset.name, path.display());
                skipped.push(format!("{}: {} not found", dataset.name, path.display()));
                continue;
            }
            let loaded = Loaded::read(&path, &dataset.split)
                .with_context(|| format!("reading {}", path.display()))?;
            if let Some((_, Some(max))) = reduced.map(|(_, q)| (q, q.max_rows)) {
                if loaded.rows() > max {
                    eprintln!(
                        "skipping {} in the reduced setting: {} rows > {max}",
                        dataset.name,
                        loaded.rows()
                    );
                    continue;
                }
            }
            let tab = TabularCtx {
                ctx: &ctx,
                dataset,
                file: &path,
                cache: &cache,
                git: &git,
            };
            for method in &spec.methods {
                if let Some(row) = run_tabular(&tab, method, Some(&loaded), &mut waiting)? {
                    rows.push(row);
                }
            }
        }
        if waiting.is_empty() {
            break (rows, skipped);
        }
        // Image runs are neither sharded nor cached, so a second pass would
        // train them again: only all-tabular specs rescan.
        let all_tabular = spec.datasets.iter().all(|d| d.kind == DataKind::Tabular);
        if args.shard.is_some() && !args.fresh && !rescanned && all_tabular {
            rescanned = true;
            continue;
        }
        // Another shard's seeds are still to come: a table now would drop
        // their rows, so the run that completes them writes it.
        eprintln!(
            "shard done; no results written yet, other shards still owe: {}",
            waiting.join(", ")
        );
        return Ok(());
    };
    if rows.is_empty() {
        bail!(
            "no dataset of the spec was found under {}:\n  {}",
            data_root.display(),
            skipped.join("\n  ")
        );
    }
    let wall = started.elapsed().as_secs_f64();
    let machine = machine();
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
            let mut row = json!({
                "dataset": r.dataset, "class": r.class, "method": r.method, "metric": metric,
                "paper": r.paper, "ours_mean": round2(r.mean), "ours_std": round2(r.std),
                "seeds": seeds, "setting": setting,
            });
            if let (Some(t), Value::Object(m)) = (&r.throughput, &mut row) {
                m.insert("seconds".into(), json!(round2(r.seconds)));
                m.insert("throughput".into(), t.to_json());
            }
            if let (false, Value::Object(m)) = (r.cached.is_empty(), &mut row) {
                let cached: Vec<Value> = r
                    .cached
                    .iter()
                    .map(|(seed, c)| json!({"seed": seed, "git": c.git, "date": c.date}))
                    .collect();
                m.insert("cached".into(), json!(cached));
            }
            row
        })
        .collect();
    let doc = json!({
        "spec": args.spec, "machine": machine, "git": git, "quick": args.quick,
        "setting": setting, "wall_seconds": round2(wall), "rows": json_rows,
        "skipped": skipped,
    });
    std::fs::write(
        out_dir.join(format!("{stem}.json")),
        serde_json::to_string_pretty(&doc)? + "\n",
    )?;
    let md = markdown(
        &spec, &args.spec, &rows, metric, seeds, &setting, &machine, &git, wall, &command, &skipped,
    );
    std::fs::write(out_dir.join(format!("{stem}.md")), &md)?;
    println!("{md}");
    Ok(())
}

/// What every (dataset, method) run needs to know about the invocation.
struct RunCtx<'a> {
    reduced: Option<(&'a str, &'a Quick)>,
    seeds: u64,
    metric: Metric,
    shard: Option<Shard>,
}

/// Whether `--datasets` selects `name`: a filter that is some dataset's exact
/// name selects only that dataset, any other filter selects by substring.
fn selected(filters: &[String], name: &str, all: &[&str]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| {
            if all.contains(&f.as_str()) {
                name == f
            } else {
                name.contains(f.as_str())
            }
        })
}

/// What [`run_tabular`] needs to know about the dataset and the run.
struct TabularCtx<'a> {
    ctx: &'a RunCtx<'a>,
    dataset: &'a DatasetSpec,
    file: &'a Path,
    cache: &'a cache::Cache,
    git: &'a str,
}

/// One (tabular dataset, method) row over every seed, each seed taken from
/// the cache when it holds that seed under the same key, else computed and
/// stored. Without `loaded` (a dataset left out by `--datasets`) only the
/// cache is read, and there is a row only if it holds every seed.
///
/// With `--shard`, the uncached seeds of other shards are not computed but
/// named in `waiting`, and there is no row.
fn run_tabular(
    tab: &TabularCtx<'_>,
    method: &MethodSpec,
    loaded: Option<&Loaded>,
    waiting: &mut Vec<String>,
) -> Result<Option<Row>> {
    let (ctx, dataset) = (tab.ctx, tab.dataset);
    if !method.only.is_empty() && !method.only.contains(&dataset.name) {
        return Ok(None);
    }
    let file_len = std::fs::metadata(tab.file).map(|m| m.len()).ok();
    let (mut values, mut cached, mut seconds) = (Vec::new(), Vec::new(), 0.0);
    let waiting_before = waiting.len();
    for seed in 0..ctx.seeds {
        let m = build_method(method, &dataset.name, ctx.reduced)?;
        // Everything the value depends on but the code: the resolved config,
        // the data file and protocol, the reduced setting's sub-sampling.
        let key = cache::key_of(&json!({
            "method": m.name(), "config": m.config_json()?,
            "file": dataset.file, "file_len": file_len, "split": dataset.split,
            "max_train": ctx.reduced.and_then(|(_, q)| q.max_train),
            "max_test": ctx.reduced.and_then(|(_, q)| q.max_test),
            "metric": format!("{:?}", ctx.metric), "seed": seed,
        }));
        if let Some(hit) = tab.cache.get(&dataset.name, &method.label, seed, &key) {
            values.push(hit.value);
            seconds += hit.seconds;
            cached.push((seed, hit));
            continue;
        }
        let Some(loaded) = loaded else {
            return Ok(None);
        };
        if ctx.shard.is_some_and(|shard| !shard.owns(seed)) {
            waiting.push(format!("{} {} seed {seed}", dataset.name, method.label));
            continue;
        }
        // GOAD checkpoints every epoch, so a seed of many hours (KDDRev)
        // resumes mid-training in the next run instead of starting over.
        let run_dir = (method.method == "goad")
            .then(|| tab.cache.run_dir(&dataset.name, &method.label, seed));
        let m = match &run_dir {
            Some(dir) => {
                let mut config = m.config_json()?;
                if let Value::Object(map) = &mut config {
                    map.insert("checkpoint_dir".into(), json!(dir));
                }
                ssad_methods::method(&method.method, Some(config))?
            }
            None => m,
        };
        let t = Instant::now();
        let split = loaded.split(Seed(seed))?;
        let split = match ctx.reduced {
            Some((_, q)) => subsample(split, q, Seed(seed))?,
            None => split,
        };
        let detector = m.fit(Input::from(&split.train), Seed(seed))?;
        let scores = detector.score(Input::from(&split.test))?;
        let value = metric_value(ctx.metric, &scores, &split.test_labels)?;
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "{:<14} {:<10} seed {seed}: {value:6.2}  ({secs:.1} s)",
            dataset.name, method.label
        );
        let entry = cache::CachedSeed {
            key,
            value,
            seconds: secs,
            git: tab.git.to_string(),
            date: cache::now_utc(),
        };
        tab.cache.put(&dataset.name, &method.label, seed, &entry)?;
        if let Some(dir) = run_dir {
            // The result is stored; its checkpoints are no longer needed.
            let _ = std::fs::remove_dir_all(dir);
        }
        values.push(value);
        seconds += secs;
    }
    if waiting.len() > waiting_before {
        return Ok(None);
    }
    let (mean, std) = mean_std(&values);
    eprintln!(
        "{:<14} {:<10} {mean:6.2} ± {std:5.2}  ({} seeds, {} from the cache, {seconds:.1} s)",
        dataset.name,
        method.label,
        ctx.seeds,
        cached.len()
    );
    Ok(Some(Row {
        dataset: dataset.name.clone(),
        class: None,
        method: method.label.clone(),
        paper: dataset.paper.get(&method.label).copied(),
        reference: dataset.reference.get(&method.label).cloned(),
        mean,
        std,
        seconds,
        throughput: None,
        cached,
    }))
}

/// `0-4 (git abc123; 2026-11-29 10:00 UTC – 2026-11-29 12:00 UTC)`: the seeds
/// a row took from the cache and what computed them.
fn cached_note(cached: &[(u64, cache::CachedSeed)]) -> String {
    if cached.is_empty() {
        return "–".to_string();
    }
    let seeds: Vec<u64> = cached.iter().map(|(s, _)| *s).collect();
    let mut gits: Vec<&str> = cached.iter().map(|(_, c)| c.git.as_str()).collect();
    gits.dedup();
    let mut dates: Vec<&str> = cached.iter().map(|(_, c)| c.date.as_str()).collect();
    dates.sort_unstable();
    let (first, last) = (dates[0], dates[dates.len() - 1]);
    let when = if first == last {
        first.to_string()
    } else {
        format!("{first} – {last}")
    };
    format!(
        "{} (git `{}`; {when})",
        cache::seed_ranges(&seeds),
        gits.join("`, `")
    )
}

fn metric_value(metric: Metric, scores: &[f64], labels: &[bool]) -> Result<f64> {
    let value = match metric {
        Metric::F1 => ssad_eval::f1_at_contamination(scores, labels)?.f1,
        Metric::Auroc => ssad_eval::auroc(scores, labels)?,
    };
    Ok(100.0 * value)
}

struct Row {
    dataset: String,
    /// Image sets: the normal class, or `mean`.
    class: Option<String>,
    method: String,
    paper: Option<f64>,
    reference: Option<String>,
    mean: f64,
    std: f64,
    seconds: f64,
    /// Image sets: how fast fitting and scoring went.
    throughput: Option<Throughput>,
    /// Seeds whose value came from the repro cache, with what computed them.
    cached: Vec<(u64, cache::CachedSeed)>,
}

/// Images per second of fitting (training images, before the method expands
/// them into transformed copies) and of scoring, summed over seeds.
#[derive(Debug, Clone, Copy, Default)]
struct Throughput {
    train_images: usize,
    fit_seconds: f64,
    test_images: usize,
    score_seconds: f64,
}

impl Throughput {
    fn add(&mut self, other: Throughput) {
        self.train_images += other.train_images;
        self.fit_seconds += other.fit_seconds;
        self.test_images += other.test_images;
        self.score_seconds += other.score_seconds;
    }

    fn fit_rate(&self) -> f64 {
        self.train_images as f64 / self.fit_seconds.max(1e-9)
    }

    fn score_rate(&self) -> f64 {
        self.test_images as f64 / self.score_seconds.max(1e-9)
    }

    fn to_json(self) -> Value {
        json!({
            "train_images": self.train_images, "fit_seconds": round2(self.fit_seconds),
            "fit_images_per_s": round2(self.fit_rate()),
            "test_images": self.test_images, "score_seconds": round2(self.score_seconds),
            "score_images_per_s": round2(self.score_rate()),
        })
    }
}

/// The reader of a dataset entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum DataKind {
    /// `.mat`/`.npz`/KDD files, split by `split`.
    #[default]
    Tabular,
    /// Fashion-MNIST's IDX files, one-class protocol.
    FashionMnist,
    /// CIFAR-10's binary batches, one-class protocol.
    Cifar10,
}

/// How 8-bit pixels become `f32`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PixelScale {
    /// `p / 127.5 - 1`, GEOM's and GOAD's `[-1, 1]`.
    #[default]
    MinusOneOne,
    /// `p / 255`.
    ZeroOne,
}

const FASHION_MNIST_CLASSES: [&str; 10] = [
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
];
const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// A labelled image set read once: the train and test splits and the class names.
struct ImageData {
    train: ImageSet,
    test: ImageSet,
    class_names: &'static [&'static str],
}

impl ImageData {
    /// The data, or (inner `Err`) why it is not there; outer `Err` = unreadable files.
    fn read(
        root: &Path,
        data_root: &Path,
        dataset: &DatasetSpec,
    ) -> Result<std::result::Result<Self, String>> {
        if dataset.split != "one-class" {
            bail!(
                "{}: image sets take split = \"one-class\", not {:?}",
                dataset.name,
                dataset.split
            );
        }
        let (train, test, class_names) = match dataset.kind {
            DataKind::FashionMnist => {
                let dir = if dataset.file.is_empty() {
                    match fashion_mnist_dir(root, data_root) {
                        Ok(dir) => dir,
                        Err(why) => return Ok(Err(why)),
                    }
                } else {
                    data_root.join(&dataset.file)
                };
                let (train, test) = ssad_data::formats::read_fashion_mnist(&dir)
                    .with_context(|| format!("reading Fashion-MNIST from {}", dir.display()))?;
                (train, test, &FASHION_MNIST_CLASSES[..])
            }
            DataKind::Cifar10 => {
                let file = if dataset.file.is_empty() {
                    "cifar10/cifar-10-batches-bin"
                } else {
                    &dataset.file
                };
                let dir = data_root.join(file);
                if !dir.join("test_batch.bin").is_file() {
                    return Ok(Err(format!(
                        "CIFAR-10 not found: {} must hold the binary version (data_batch_1.bin .. \
                         data_batch_5.bin, test_batch.bin) of \
                         https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                        dir.display()
                    )));
                }
                let (train, test) = ssad_data::formats::read_cifar10(&dir)
                    .with_context(|| format!("reading CIFAR-10 from {}", dir.display()))?;
                (train, test, &CIFAR10_CLASSES[..])
            }
            DataKind::Tabular => bail!("{} is not an image set", dataset.name),
        };
        Ok(Ok(Self {
            train,
            test,
            class_names,
        }))
    }
}

/// The folder of Fashion-MNIST, through the `fashion-mnist` manifest (data root,
/// then its fallback folder), or why it is missing.
fn fashion_mnist_dir(root: &Path, data_root: &Path) -> std::result::Result<PathBuf, String> {
    let registry = ssad_data::registry::Registry::from_dir(&root.join("datasets"))
        .map_err(|e| e.to_string())?;
    let manifest = registry.get("fashion-mnist").map_err(|e| e.to_string())?;
    let file = manifest
        .files
        .iter()
        .find(|f| f.path.ends_with("t10k-images-idx3-ubyte.gz"))
        .ok_or("the fashion-mnist manifest lists no t10k-images-idx3-ubyte.gz")?;
    let path = ssad_data::registry::locate(manifest, file, data_root).map_err(|e| e.to_string())?;
    path.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("{} has no parent folder", path.display()))
}

/// Pixels of the listed images (all when `None`) as `(N, C, H, W)` `f32`, padded,
/// resized and scaled as `dataset` says.
fn image_tensor(
    set: &ImageSet,
    indices: Option<&[usize]>,
    dataset: &DatasetSpec,
) -> Result<(Vec<f32>, [usize; 4])> {
    let (c, h, w) = (set.channels(), set.height(), set.width());
    let (ph, pw) = (h + 2 * dataset.pad, w + 2 * dataset.pad);
    let all: Vec<usize>;
    let indices = match indices {
        Some(i) => i,
        None => {
            all = (0..set.len()).collect();
            &all
        }
    };
    let scale = |p: u8| match dataset.scale {
        PixelScale::MinusOneOne => f32::from(p) / 127.5 - 1.0,
        PixelScale::ZeroOne => f32::from(p) / 255.0,
    };
    let background = scale(0);
    let mut out = vec![background; indices.len() * c * ph * pw];
    for (dst, &i) in out.chunks_exact_mut(c * ph * pw).zip(indices) {
        let src = set.image(i).context("image index out of range")?;
        for (plane_dst, plane_src) in dst.chunks_exact_mut(ph * pw).zip(src.chunks_exact(h * w)) {
            for (r, row) in plane_src.chunks_exact(w).enumerate() {
                let start = (r + dataset.pad) * pw + dataset.pad;
                for (d, &p) in plane_dst[start..start + w].iter_mut().zip(row) {
                    *d = scale(p);
                }
            }
        }
    }
    let n = indices.len();
    match dataset.resize {
        Some(side) if side != ph || side != pw => {
            let t = candle_core::Tensor::from_vec(out, (n, c, ph, pw), &candle_core::Device::Cpu)?
                .upsample_bilinear2d(side, side, false)?;
            Ok((t.flatten_all()?.to_vec1::<f32>()?, [n, c, side, side]))
        }
        _ => Ok((out, [n, c, ph, pw])),
    }
}

/// At most `max` of `0..n`, drawn from `(seed, stream)`, in increasing order.
fn pick_indices(n: usize, max: Option<usize>, seed: Seed, stream: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    if let Some(max) = max.filter(|&m| m < n) {
        idx.shuffle(&mut seed.rng(Stream::Subsample, 7, stream));
        idx.truncate(max);
        idx.sort_unstable();
    }
    idx
}

/// Every method on every class of one image set: per-class rows and a mean row per method.
fn run_images(
    ctx: &RunCtx<'_>,
    spec: &Spec,
    dataset: &DatasetSpec,
    data: &ImageData,
) -> Result<Vec<Row>> {
    let quick = ctx.reduced.map(|(_, q)| q);
    let classes: Vec<u8> = quick
        .and_then(|q| q.classes.clone())
        .or_else(|| dataset.classes.clone())
        .unwrap_or_else(|| (0..data.class_names.len() as u8).collect());
    let mut rows = Vec::new();
    for method in &spec.methods {
        if !method.only.is_empty() && !method.only.contains(&dataset.name) {
            continue;
        }
        let m = build_method(method, &dataset.name, ctx.reduced)?;
        let t_method = Instant::now();
        // values[class][seed]
        let mut values: Vec<Vec<f64>> = Vec::new();
        let mut total = Throughput::default();
        for &class in &classes {
            let name = data
                .class_names
                .get(usize::from(class))
                .with_context(|| format!("class {class} out of range"))?;
            let split = one_class_split(&data.train, &data.test, class)?;
            let t_class = Instant::now();
            let mut per_seed = Vec::new();
            let mut speed = Throughput::default();
            for seed in 0..ctx.seeds {
                let seed = Seed(seed);
                let train_idx =
                    pick_indices(split.train.len(), quick.and_then(|q| q.max_train), seed, 0);
                let test_idx =
                    pick_indices(split.test.len(), quick.and_then(|q| q.max_test), seed, 1);
                let (train, train_shape) = image_tensor(&split.train, Some(&train_idx), dataset)?;
                let (test, test_shape) = image_tensor(&split.test, Some(&test_idx), dataset)?;
                let labels: Vec<bool> = test_idx.iter().map(|&i| split.test_labels[i]).collect();
                let t = Instant::now();
                let detector = m.fit(Input::Images(ImageBatch::new(&train, train_shape)?), seed)?;
                let fit_seconds = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let scores = detector.score(Input::Images(ImageBatch::new(&test, test_shape)?))?;
                speed.add(Throughput {
                    train_images: train_idx.len(),
                    fit_seconds,
                    test_images: test_idx.len(),
                    score_seconds: t.elapsed().as_secs_f64(),
                });
                per_seed.push(metric_value(ctx.metric, &scores, &labels)?);
            }
            let (mean, std) = mean_std(&per_seed);
            eprintln!(
                "{:<14} {:<12} {:<10} {mean:6.2} ± {std:5.2}  ({} seeds, {:.1} s; fit {:.1} img/s, score {:.1} img/s)",
                dataset.name,
                name,
                method.label,
                ctx.seeds,
                t_class.elapsed().as_secs_f64(),
                speed.fit_rate(),
                speed.score_rate(),
            );
            rows.push(Row {
                dataset: dataset.name.clone(),
                class: Some(format!("{class} {name}")),
                method: method.label.clone(),
                paper: dataset
                    .paper_classes
                    .get(&method.label)
                    .and_then(|v| v.get(usize::from(class)))
                    .copied(),
                reference: None,
                mean,
                std,
                seconds: t_class.elapsed().as_secs_f64(),
                throughput: Some(speed),
                cached: Vec::new(),
            });
            total.add(speed);
            values.push(per_seed);
        }
        // Per seed, the mean over classes; then mean ± std over seeds.
        let per_seed_means: Vec<f64> = (0..ctx.seeds as usize)
            .map(|s| values.iter().map(|v| v[s]).sum::<f64>() / values.len().max(1) as f64)
            .collect();
        let (mean, std) = mean_std(&per_seed_means);
        let all_classes = classes.len() == data.class_names.len();
        rows.push(Row {
            dataset: dataset.name.clone(),
            class: Some(if all_classes {
                "mean".to_string()
            } else {
                format!("mean of {} classes", classes.len())
            }),
            method: method.label.clone(),
            // The paper's mean is over all classes: not comparable with a subset.
            paper: dataset
                .paper
                .get(&method.label)
                .copied()
                .filter(|_| all_classes),
            reference: dataset.reference.get(&method.label).cloned(),
            mean,
            std,
            seconds: t_method.elapsed().as_secs_f64(),
            throughput: Some(total),
            cached: Vec::new(),
        });
    }
    Ok(rows)
}

/// A dataset read once, split per seed.
enum Loaded {
    Tabular(ssad_data::Labeled),
    RandomHalf(ssad_data::Labeled),
    Kdd(Box<ssad_data::formats::Kdd>, bool),
}

impl Loaded {
    fn read(path: &Path, split: &str) -> Result<Self> {
        let tabular = || -> Result<ssad_data::Labeled> {
            Ok(match path.extension().and_then(|e| e.to_str()) {
                Some("mat") => ssad_data::formats::read_mat_xy(path)?,
                Some("npz") => ssad_data::formats::read_npz_xy(path)?,
                other => bail!("no reader for extension {other:?}"),
            })
        };
        Ok(match split {
            "goad" => Loaded::Tabular(tabular()?),
            "random_half" => Loaded::RandomHalf(tabular()?),
            "kdd" | "kddrev" => Loaded::Kdd(
                Box::new(ssad_data::formats::read_kdd(path)?),
                split == "kddrev",
            ),
            other => bail!("unknown split {other:?} (goad, random_half, kdd, kddrev)"),
        })
    }

    fn rows(&self) -> usize {
        match self {
            Loaded::Tabular(d) | Loaded::RandomHalf(d) => d.len(),
            Loaded::Kdd(k, _) => k.x.rows(),
        }
    }

    fn split(&self, seed: Seed) -> Result<Split> {
        Ok(match self {
            Loaded::Tabular(d) => goad_tabular(d)?,
            Loaded::RandomHalf(d) => random_half(d, seed)?,
            Loaded::Kdd(k, false) => goad_kdd(k, seed)?,
            Loaded::Kdd(k, true) => goad_kddrev(k, seed)?,
        })
    }
}

/// A seeded random half (rounded down) of the normal rows trains; the test set
/// is the other normal rows followed by every anomaly (file order within each);
/// every column is z-scored with the training mean and std (0 → 1), as GOAD's split.
fn random_half(data: &ssad_data::Labeled, seed: Seed) -> Result<Split> {
    let mut normals: Vec<usize> = (0..data.len()).filter(|&i| !data.y[i]).collect();
    let anomalies = (0..data.len()).filter(|&i| data.y[i]);
    normals.shuffle(&mut seed.rng(Stream::Subsample, 8, 0));
    let n_train = normals.len() / 2;
    if n_train == 0 {
        bail!("random_half needs at least 2 normal rows");
    }
    let (train_rows, rest) = normals.split_at_mut(n_train);
    train_rows.sort_unstable();
    rest.sort_unstable();
    let n_test_normal = rest.len();
    let test_rows: Vec<usize> = rest.iter().copied().chain(anomalies).collect();
    let x = data.x.view();
    let train = x.select_rows(train_rows)?;
    let scaler = ssad_data::protocols::Standardizer::fit(train.view())?;
    let mut test_labels = vec![false; n_test_normal];
    test_labels.resize(test_rows.len(), true);
    Ok(Split {
        train: scaler.transform(train.view())?,
        test: scaler.transform(x.select_rows(&test_rows)?.view())?,
        test_labels,
    })
}

fn build_method(
    spec: &MethodSpec,
    dataset: &str,
    reduced: Option<(&str, &Quick)>,
) -> Result<Box<dyn ssad_methods::Method>> {
    let mut config = match spec.config.as_ref() {
        Some(c) => serde_json::to_value(c)?,
        None => json!({}),
    };
    if let Some(over) = reduced.and_then(|(name, _)| spec.settings.get(name)) {
        merge(&mut config, serde_json::to_value(over)?);
    }
    if spec.method == "goad" {
        let preset = GoadPreset::from_name(dataset)
            .ok()
            .filter(|_| spec.preset_by_dataset);
        let base = ssad_methods::GoadConfig::preset(preset.unwrap_or(GoadPreset::Thyroid));
        let mut merged = serde_json::to_value(base)?;
        merge(&mut merged, config);
        config = merged;
    }
    let method = ssad_methods::method(&spec.method, Some(config))?;
    // The reduced setting caps the epochs of any method that has an `epochs` field.
    let Some(cap) = reduced.and_then(|(_, q)| q.epochs) else {
        return Ok(method);
    };
    let mut full = method.config_json()?;
    match full.get("epochs").and_then(Value::as_u64) {
        Some(epochs) if epochs as usize > cap => {
            if let Value::Object(m) = &mut full {
                m.insert("epochs".into(), json!(cap));
            }
            Ok(ssad_methods::method(&spec.method, Some(full))?)
        }
        _ => Ok(method),
    }
}

/// Overwrites `base`'s top-level keys with `over`'s.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(m), Value::Object(over)) => m.extend(over),
        (base, over) => *base = over,
    }
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
    if let Some(name) = &args.setting {
        cmd.push_str(&format!(" --setting {name}"));
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
    skipped: &[String],
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
    for why in skipped {
        md.push_str(&format!("- **Not run**: {why}\n"));
    }
    if rows.iter().any(|r| !r.cached.is_empty()) {
        md.push_str("- Seeds listed under *seeds from the cache* were computed by an earlier run (its git revision and date are given) and read back from `target/repro-cache/`; the wall time counts only this run.\n");
    }
    let with_reference = rows.iter().any(|r| r.reference.is_some());
    let with_class = rows.iter().any(|r| r.class.is_some());
    let with_speed = rows.iter().any(|r| r.throughput.is_some());
    let with_cache = rows.iter().any(|r| !r.cached.is_empty());
    let mut header = String::from("| dataset |");
    if with_class {
        header.push_str(" class |");
    }
    header.push_str(" method | paper | ours | seconds |");
    if with_speed {
        header.push_str(" fit img/s | score img/s |");
    }
    if with_reference {
        header.push_str(" reference code, this machine |");
    }
    if with_cache {
        header.push_str(" seeds from the cache |");
    }
    let columns = header.matches('|').count() - 1;
    md.push_str(&format!("\n{header}\n|{}\n", "---|".repeat(columns)));
    for r in rows {
        let paper = r.paper.map_or("–".to_string(), |p| format!("{p:.1}"));
        md.push_str(&format!("| {} |", r.dataset));
        if with_class {
            md.push_str(&format!(" {} |", r.class.as_deref().unwrap_or("–")));
        }
        md.push_str(&format!(
            " {} | {paper} | {:.1} ± {:.1} | {:.1} |",
            r.method, r.mean, r.std, r.seconds
        ));
        if with_speed {
            match &r.throughput {
                Some(t) => md.push_str(&format!(" {:.1} | {:.1} |", t.fit_rate(), t.score_rate())),
                None => md.push_str(" – | – |"),
            }
        }
        if with_reference {
            md.push_str(&format!(" {} |", r.reference.as_deref().unwrap_or("–")));
        }
        if with_cache {
            md.push_str(&format!(" {} |", cached_note(&r.cached)));
        }
        md.push('\n');
    }
    if spec.pivot {
        md.push_str(&pivot_table(rows));
    }
    md
}

/// Datasets × methods, `mean ± std` over seeds per cell, then the mean over datasets.
fn pivot_table(rows: &[Row]) -> String {
    let mut methods: Vec<&str> = Vec::new();
    let mut datasets: Vec<&str> = Vec::new();
    for r in rows {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
        if !datasets.contains(&r.dataset.as_str()) {
            datasets.push(&r.dataset);
        }
    }
    let find = |d: &str, m: &str| rows.iter().find(|r| r.dataset == d && r.method == m);
    let mut md = format!(
        "\n## By dataset and method\n\n| dataset | {} |\n|---|{}\n",
        methods.join(" | "),
        "---|".repeat(methods.len())
    );
    for d in &datasets {
        md.push_str(&format!("| {d} |"));
        for m in &methods {
            match find(d, m) {
                Some(r) => md.push_str(&format!(" {:.1} ± {:.1} |", r.mean, r.std)),
                None => md.push_str(" – |"),
            }
        }
        md.push('\n');
    }
    md.push_str("| **mean** |");
    for m in &methods {
        let v: Vec<f64> = datasets
            .iter()
            .filter_map(|d| find(d, m).map(|r| r.mean))
            .collect();
        let cell = if v.len() == datasets.len() {
            format!("**{:.1}**", v.iter().sum::<f64>() / v.len() as f64)
        } else {
            format!("{} of {} sets", v.len(), datasets.len())
        };
        md.push_str(&format!(" {cell} |"));
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::{parse_shard, selected};

    #[test]
    fn shards_split_the_seeds() {
        let owners = |text: &str| -> Vec<u64> {
            let shard = parse_shard(text).unwrap();
            (0..5).filter(|&s| shard.owns(s)).collect()
        };
        assert_eq!(owners("0/2"), [0, 2, 4]);
        assert_eq!(owners("1/2"), [1, 3]);
        assert_eq!(owners("0/1"), [0, 1, 2, 3, 4]);
        for bad in ["2/2", "1/0", "1", "a/2", "-1/2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exact_names_beat_substrings() {
        let all = ["arrhythmia", "thyroid", "kdd", "kddrev"];
        let pick = |filters: &[&str]| -> Vec<&str> {
            let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
            all.iter()
                .copied()
                .filter(|name| selected(&filters, name, &all))
                .collect()
        };
        assert_eq!(pick(&["kdd"]), ["kdd"]);
        assert_eq!(pick(&["kddrev"]), ["kddrev"]);
        assert_eq!(pick(&["kd"]), ["kdd", "kddrev"]);
        assert_eq!(pick(&["thy", "kdd"]), ["thyroid", "kdd"]);
        assert_eq!(pick(&[]), all);
    }
}
