//! `cargo xtask repro SPEC` for MVTec AD specs (`kind = "mvtec"`): CutPaste's
//! image-level and pixel-level AUROC on one category folder.
//!
//! The spec names the category (a folder relative to the data root; any MVTec
//! category in the original layout works, `--mvtec-category PATH` overrides it),
//! the CutPaste variants (label, JSON config, paper numbers) and named reduced
//! settings (`[settings.NAME]`: `label`, `resize`, and `config` merged over every
//! variant's config). Each variant trains on `train/good` for every seed; the
//! image score is scored on `test/*` against "defective or not", the pixel
//! maps against the ground-truth masks (maps of a resized run are brought back
//! to the mask size by pixel repetition). Fitted models go to
//! `target/repro-models/SPEC[-SETTING]/VARIANT-seedS/` with the trainer's
//! `metrics.jsonl`, and the (resized) test images to `.../test-images/`, so
//! that `ssad score --model ... --data .../test-images --heatmaps DIR` draws the
//! heatmaps of exactly what was measured.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use ssad_core::Seed;
use ssad_data::formats::{load_image_chw, load_mask, MvtecCategory};
use ssad_methods::{CutPasteConfig, Detector, ImageBatch, Input};

use super::ReproArgs;
use crate::project_root;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MvtecSpec {
    kind: String,
    title: String,
    protocol: String,
    seeds: u64,
    paper_source: String,
    /// The category folder, relative to the data root.
    category: String,
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    settings: BTreeMap<String, Setting>,
    variants: Vec<Variant>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Setting {
    /// Describes the setting in the results.
    label: Option<String>,
    /// Square side the images are averaged down to (an integer divisor of theirs).
    resize: Option<usize>,
    /// Merged over every variant's config.
    config: Option<toml::Value>,
    seeds: Option<u64>,
    /// Labels of the variants this setting runs; every variant when absent.
    variants: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Variant {
    label: String,
    /// `CutPasteConfig` fields.
    #[serde(default)]
    config: Option<toml::Value>,
    /// Paper image-level AUROC (%).
    paper_image: Option<f64>,
    /// Paper pixel-level AUROC (%).
    paper_pixel: Option<f64>,
}

/// Whether the spec text is an MVTec spec.
pub(super) fn is_mvtec(text: &str) -> bool {
    text.parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("kind").and_then(|k| k.as_str().map(|k| k == "mvtec")))
        .unwrap_or(false)
}

/// Images of a category split, `(N, 3, H, W)` in `[0, 1]`, averaged down to `side`.
struct Images {
    data: Vec<f32>,
    n: usize,
    side: (usize, usize),
}

fn read_images(paths: &[PathBuf], resize: Option<usize>) -> Result<Images> {
    let mut data = Vec::new();
    let mut side = None;
    for path in paths {
        let img = load_image_chw(path)?;
        let (img, h, w) = match resize {
            Some(s) => (box_down(&img.data, 3, img.height, img.width, s)?, s, s),
            None => (img.data, img.height, img.width),
        };
        if *side.get_or_insert((h, w)) != (h, w) {
            bail!("{}: {h}x{w}, other images differ", path.display());
        }
        data.extend(img);
    }
    Ok(Images {
        data,
        n: paths.len(),
        side: side.unwrap_or((0, 0)),
    })
}

/// Averages `k x k` blocks (`k = h / side`): an exact area resize for integer factors.
fn box_down(data: &[f32], c: usize, h: usize, w: usize, side: usize) -> Result<Vec<f32>> {
    if side == 0 || h % side != 0 || w % side != 0 || h / side != w / side {
        bail!("resize {side} does not divide the {h}x{w} images evenly");
    }
    let k = h / side;
    let mut out = vec![0.0f32; c * side * side];
    for ch in 0..c {
        for y in 0..side {
            for x in 0..side {
                let mut sum = 0.0f32;
                for dy in 0..k {
                    let row = &data[ch * h * w + (y * k + dy) * w + x * k..][..k];
                    sum += row.iter().sum::<f32>();
                }
                out[(ch * side + y) * side + x] = sum / (k * k) as f32;
            }
        }
    }
    Ok(out)
}

fn to_json(v: &Option<toml::Value>) -> Result<Value> {
    Ok(match v {
        Some(t) => serde_json::to_value(t)?,
        None => json!({}),
    })
}

/// `over` merged into `base`, objects recursively.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

struct Outcome {
    image: f64,
    pixel: Option<f64>,
    /// Fit wall time; `None` for a reused model.
    seconds: Option<f64>,
}

/// Entry point for `kind = "mvtec"` specs.
pub(super) fn run(args: &ReproArgs, text: &str, data_root: &Path) -> Result<()> {
    let spec: MvtecSpec = toml::from_str(text).context("parsing the MVTec spec")?;
    if spec.kind != "mvtec" {
        bail!("not an MVTec spec");
    }
    let setting = match &args.setting {
        Some(name) => Some((
            name.as_str(),
            spec.settings
                .get(name)
                .with_context(|| format!("the spec has no [settings.{name}]"))?,
        )),
        None if args.quick => Some((
            "quick",
            spec.settings
                .get("quick")
                .context("the spec has no [settings.quick]")?,
        )),
        None => None,
    };
    let seeds = args
        .seeds
        .or(setting.and_then(|(_, s)| s.seeds))
        .unwrap_or(spec.seeds);
    let folder = args
        .mvtec_category
        .clone()
        .unwrap_or_else(|| data_root.join(&spec.category));
    if !folder.join("train").is_dir() {
        eprintln!(
            "skipping {}: {} is not an MVTec category folder",
            args.spec,
            folder.display()
        );
        return Ok(());
    }
    let category = MvtecCategory::open(&folder)?;
    let resize = setting.and_then(|(_, s)| s.resize);
    let paths = |s: &[ssad_data::formats::MvtecSample]| -> Vec<PathBuf> {
        s.iter().map(|x| x.image.clone()).collect()
    };
    let train = read_images(&paths(&category.train), resize)?;
    let test = read_images(&paths(&category.test), resize)?;
    let labels = category.test_labels();
    let masks: Vec<Vec<f32>> = {
        let first = load_image_chw(&category.test[0].image)?;
        category
            .test
            .iter()
            .map(|s| Ok(load_mask(s.mask.as_deref(), first.height, first.width)?.data))
            .collect::<Result<_>>()?
    };
    let name = folder
        .file_name()
        .map_or_else(|| "category".into(), |n| n.to_string_lossy().into_owned());
    let suffix = setting.map_or(String::new(), |(n, _)| format!("-{n}"));
    let models = project_root()
        .join("target")
        .join("repro-models")
        .join(format!("{}{suffix}", args.spec));
    // Also at full size: one flat folder named `<defect>_<file>`, which the
    // category's nested `test/<defect>/` layout is not.
    write_pngs(&models.join("test-images"), &test, &category)?;
    let setting_label = setting.map_or("paper".to_string(), |(n, s)| {
        s.label.clone().unwrap_or_else(|| n.to_string())
    });
    eprintln!(
        "{name}: {} train, {} test images at {}x{}; setting: {setting_label}",
        train.n, test.n, train.side.0, train.side.1
    );
    let mut rows = Vec::new();
    let only = setting.and_then(|(_, s)| s.variants.as_ref());
    if let Some(labels) = only {
        if let Some(l) = labels
            .iter()
            .find(|l| !spec.variants.iter().any(|v| &v.label == *l))
        {
            bail!("the setting names variant `{l}`, which the spec does not have");
        }
    }
    // The table is rewritten after every variant, so that a run stopped
    // part-way keeps the rows it finished.
    let write = |rows: &[Value]| -> Result<()> {
        let out_dir = args
            .out_dir
            .clone()
            .unwrap_or_else(|| project_root().join("docs").join("results"));
        std::fs::create_dir_all(&out_dir)?;
        let stem = format!("{}{suffix}", args.spec);
        let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
        let report = json!({
            "spec": args.spec,
            "title": spec.title,
            "protocol": spec.protocol,
            "paper_source": spec.paper_source,
            "category": name,
            "setting": setting_label,
            "image_side": [train.side.0, train.side.1],
            "train_images": train.n,
            "test_images": test.n,
            "seeds": seeds,
            "rayon_threads": threads,
            "load_average": proc_field("/proc/loadavg", ""),
            "peak_rss": proc_field("/proc/self/status", "VmHWM:"),
            "notes": spec.notes,
            "rows": rows,
        });
        std::fs::write(
            out_dir.join(format!("{stem}.json")),
            serde_json::to_vec_pretty(&report)?,
        )?;
        std::fs::write(out_dir.join(format!("{stem}.md")), markdown(&report))?;
        eprintln!("wrote {}/{stem}.{{md,json}}", out_dir.display());
        Ok(())
    };
    for variant in spec
        .variants
        .iter()
        .filter(|v| only.is_none_or(|o| o.contains(&v.label)))
    {
        let mut config = to_json(&variant.config)?;
        if let Some((_, s)) = setting {
            merge(&mut config, &to_json(&s.config)?);
        }
        let cp: CutPasteConfig =
            serde_json::from_value(config.clone()).with_context(|| variant.label.clone())?;
        let mut outcomes = Vec::new();
        for seed in 0..seeds {
            let slug: String = variant
                .label
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            let dir = models.join(format!("{slug}-seed{seed}"));
            let o = run_one(
                &cp,
                &train,
                &test,
                &labels,
                &masks,
                Seed(seed),
                &dir,
                args.reuse_models,
            )?;
            eprintln!(
                "{name} {:<24} seed {seed}: image AUROC {:.2}, pixel AUROC {}, fit {}",
                variant.label,
                100.0 * o.image,
                o.pixel.map_or("-".into(), |p| format!("{:.2}", 100.0 * p)),
                o.seconds.map_or("reused".into(), |s| format!("{s:.0} s"))
            );
            outcomes.push(o);
        }
        rows.push(json!({
            "variant": variant.label,
            "config": config,
            "paper_image": variant.paper_image,
            "paper_pixel": variant.paper_pixel,
            "image_auroc": mean_std(outcomes.iter().map(|o| 100.0 * o.image)),
            "pixel_auroc": if outcomes.iter().all(|o| o.pixel.is_some()) {
                json!(mean_std(outcomes.iter().filter_map(|o| o.pixel).map(|p| 100.0 * p)))
            } else {
                Value::Null
            },
            // null when any model was reused (fitted elsewhere, time unknown).
            "seconds": outcomes.iter().map(|o| o.seconds).sum::<Option<f64>>(),
        }));
        write(&rows)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    cp: &CutPasteConfig,
    train: &Images,
    test: &Images,
    labels: &[bool],
    masks: &[Vec<f32>],
    seed: Seed,
    dir: &Path,
    reuse: bool,
) -> Result<Outcome> {
    let (h, w) = train.side;
    let saved = dir.join("method.json");
    let (detector, seconds): (Box<dyn Detector>, _) = if reuse && saved.is_file() {
        let header: Value = serde_json::from_slice(&std::fs::read(&saved)?)?;
        let theirs: CutPasteConfig = serde_json::from_value(header["config"].clone())
            .with_context(|| format!("{}: not a CutPaste model", dir.display()))?;
        if &theirs != cp {
            bail!(
                "{}: the saved model's config differs from the one to run",
                dir.display()
            );
        }
        eprintln!("  reusing the model saved in {}", dir.display());
        (ssad_methods::load(dir)?, None)
    } else {
        let started = Instant::now();
        let batch = ImageBatch::new(&train.data, [train.n, 3, h, w])?;
        let detector = cp.fit_cutpaste(batch, seed, Some(dir))?;
        let seconds = started.elapsed().as_secs_f64();
        detector.save(dir)?;
        (Box::new(detector), Some(seconds))
    };
    let test_batch = ImageBatch::new(&test.data, [test.n, 3, h, w])?;
    let scoring = Instant::now();
    let scores = detector.score(Input::Images(test_batch))?;
    let image = ssad_eval::auroc(&scores, labels)?;
    eprintln!(
        "  fit {}; test image scores {:.1} s",
        seconds.map_or("reused".into(), |s: f64| format!("{s:.0} s")),
        scoring.elapsed().as_secs_f64()
    );
    let mapping = Instant::now();
    let maps = detector.anomaly_maps(Input::Images(test_batch))?;
    if maps.is_some() {
        eprintln!("  test pixel maps {:.1} s", mapping.elapsed().as_secs_f64());
    }
    let pixel = match maps {
        None => None,
        Some(maps) => {
            let mut values = Vec::new();
            let mut truth = Vec::new();
            for (i, mask) in masks.iter().enumerate() {
                let map = &maps.maps[i * h * w..(i + 1) * h * w];
                let side = (mask.len() as f64).sqrt() as usize;
                let k = side / h;
                // Each map pixel stands for a k x k block of the mask.
                for y in 0..side {
                    for x in 0..side {
                        values.push(map[(y / k) * w + x / k]);
                        truth.push(mask[y * side + x] > 0.5);
                    }
                }
            }
            Some(ssad_eval::auroc(&values, &truth)?)
        }
    };
    Ok(Outcome {
        image,
        pixel,
        seconds,
    })
}

/// The test images as PNGs named `<defect>_<file>`, for `ssad score --heatmaps`.
fn write_pngs(dir: &Path, images: &Images, category: &MvtecCategory) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let (h, w) = images.side;
    for (i, sample) in category.test.iter().enumerate() {
        let img = &images.data[i * 3 * h * w..(i + 1) * 3 * h * w];
        let mut rgb = vec![0u8; 3 * h * w];
        for p in 0..h * w {
            for c in 0..3 {
                rgb[3 * p + c] = (img[c * h * w + p].clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
        let stem = sample
            .image
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let path = dir.join(format!("{}_{stem}.png", sample.defect));
        image::save_buffer(
            &path,
            &rgb,
            w as u32,
            h as u32,
            image::ExtendedColorType::Rgb8,
        )
        .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The rest of the first line of a `/proc` file that starts with `key`
/// (trimmed), or "unknown" off Linux: machine conditions for the results.
fn proc_field(path: &str, key: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        })
        .unwrap_or_else(|| "unknown".into())
}

fn mean_std(values: impl Iterator<Item = f64>) -> Value {
    let v: Vec<f64> = values.collect();
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len().max(1) as f64;
    json!({ "mean": mean, "std": var.sqrt(), "values": v })
}

fn markdown(r: &Value) -> String {
    let fmt = |v: &Value| match v["mean"].as_f64() {
        Some(m) => format!("{m:.1} ± {:.1}", v["std"].as_f64().unwrap_or(0.0)),
        None => "—".into(),
    };
    let paper = |v: &Value| v.as_f64().map_or("—".into(), |p| format!("{p:.1}"));
    let mut s = format!(
        "# {}\n\n- Category: `{}`, {} training and {} test images at {}×{} px\n- Setting: **{}**\n- Protocol: {}\n- Paper numbers: {}\n- Seeds: {}; rayon threads: {}; load average when written: {}; peak RSS: {}\n\n",
        r["title"].as_str().unwrap_or(""),
        r["category"].as_str().unwrap_or(""),
        r["train_images"],
        r["test_images"],
        r["image_side"][0],
        r["image_side"][1],
        r["setting"].as_str().unwrap_or(""),
        r["protocol"].as_str().unwrap_or(""),
        r["paper_source"].as_str().unwrap_or(""),
        r["seeds"],
        r["rayon_threads"].as_str().unwrap_or(""),
        r["load_average"].as_str().unwrap_or("unknown"),
        r["peak_rss"].as_str().unwrap_or("unknown"),
    );
    s.push_str("| variant | image AUROC (ours) | image AUROC (paper) | pixel AUROC (ours) | pixel AUROC (paper) | fit time (s) |\n|---|---|---|---|---|---|\n");
    for row in r["rows"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row["variant"].as_str().unwrap_or(""),
            fmt(&row["image_auroc"]),
            paper(&row["paper_image"]),
            fmt(&row["pixel_auroc"]),
            paper(&row["paper_pixel"]),
            row["seconds"]
                .as_f64()
                .map_or("— (fitted elsewhere)".into(), |s| format!("{s:.0}")),
        ));
    }
    if let Some(notes) = r["notes"].as_array() {
        if !notes.is_empty() {
            s.push_str("\nNotes:\n\n");
            for n in notes {
                s.push_str(&format!("- {}\n", n.as_str().unwrap_or("")));
            }
        }
    }
    s
}
