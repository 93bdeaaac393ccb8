//! `cargo xtask data`: check the datasets against their manifests, and fetch them.
//!
//! The data root is `--data-dir`, else `SSAD_DATA_DIR`, else `../shared/datasets`
//! beside the workspace. Manifests are read from `datasets/` (or `--manifests`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rayon::prelude::*;
use ssad_data::manifest::Manifest;
use ssad_data::registry::{self, Installed, Registry, Report};

/// Dataset subcommands.
#[derive(Subcommand)]
pub enum DataCommand {
    /// Verify every dataset (sha256, shape, anomaly counts); exit non-zero on any mismatch.
    Check(CheckArgs),
    /// Download a dataset's files from their upstream URLs and verify them.
    Fetch(FetchArgs),
}

/// Options every data subcommand takes.
#[derive(Args)]
pub struct Locations {
    /// The data root [default: $SSAD_DATA_DIR, else ../shared/datasets beside the workspace].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The folder of dataset manifests [default: `<workspace>/datasets`].
    #[arg(long, value_name = "DIR")]
    manifests: Option<PathBuf>,
}

/// `data check` options.
#[derive(Args)]
pub struct CheckArgs {
    #[command(flatten)]
    locations: Locations,
    /// Print one JSON object per dataset instead of a table.
    #[arg(long)]
    json: bool,
    /// Check only these datasets (default: all).
    names: Vec<String>,
}

/// `data fetch` options.
#[derive(Args)]
pub struct FetchArgs {
    #[command(flatten)]
    locations: Locations,
    /// Download `<URL>/<file path in the manifest>` instead of each file's upstream URL
    /// (a mirror, or a local server in tests).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// The dataset to fetch, as named in its manifest (e.g. adbench/38_thyroid).
    name: String,
}

/// Runs a data subcommand.
pub fn run(cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Check(args) => check(&args),
        DataCommand::Fetch(args) => fetch(&args),
    }
}

impl Locations {
    fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .or_else(registry::data_dir_from_env)
            .unwrap_or_else(|| crate::project_root().join("../shared/datasets"))
    }

    fn registry(&self) -> Result<Registry> {
        let dir = self
            .manifests
            .clone()
            .unwrap_or_else(|| crate::project_root().join("datasets"));
        Registry::from_dir(&dir).with_context(|| format!("reading manifests in {}", dir.display()))
    }
}

/// The verdict on one dataset.
enum Outcome {
    Ok(Report),
    /// Every file is absent: not corrupt, just not installed. Says where it looked and
    /// how to get the files.
    Missing(String),
    Failed(String),
}

fn check(args: &CheckArgs) -> Result<()> {
    let start = Instant::now();
    let root = args.locations.data_dir();
    let reg = args.locations.registry()?;
    let selected: Vec<&Manifest> = if args.names.is_empty() {
        reg.manifests().iter().collect()
    } else {
        args.names
            .iter()
            .map(|n| reg.get(n))
            .collect::<ssad_data::Result<_>>()?
    };
    if !args.json {
        println!("data root: {}", root.display());
    }
    // The biggest datasets dominate: start them first so two cores finish together.
    let mut order: Vec<usize> = (0..selected.len()).collect();
    order
        .sort_by_key(|&i| std::cmp::Reverse(selected[i].files.iter().map(|f| f.size).sum::<u64>()));
    let mut outcomes: Vec<(usize, Outcome, Duration)> = order
        .into_par_iter()
        .map(|i| {
            let t = Instant::now();
            (i, check_one(selected[i], &root), t.elapsed())
        })
        .collect();
    outcomes.sort_by_key(|(i, ..)| *i);

    let (mut ok, mut missing_optional, mut failed) = (0, 0, 0);
    let width = selected.iter().map(|m| m.name.len()).max().unwrap_or(0);
    for (i, outcome, took) in &outcomes {
        let m = selected[*i];
        let fails = match outcome {
            Outcome::Ok(_) => false,
            Outcome::Missing(_) => !m.optional,
            Outcome::Failed(_) => true,
        };
        match (outcome, fails) {
            (Outcome::Ok(_), _) => ok += 1,
            (Outcome::Missing(_), false) => missing_optional += 1,
            _ => failed += 1,
        }
        if args.json {
            println!("{}", json_line(m, outcome, fails, *took));
        } else {
            println!("{}", text_line(m, outcome, fails, width));
        }
    }
    let summary = format!(
        "{} datasets: {ok} ok, {missing_optional} optional missing, {failed} failed ({:.1} s)",
        selected.len(),
        start.elapsed().as_secs_f64()
    );
    if args.json {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    if failed > 0 {
        bail!("{failed} dataset(s) failed the check");
    }
    Ok(())
}

fn check_one(m: &Manifest, root: &Path) -> Outcome {
    let all_absent = m
        .files
        .iter()
        .all(|f| registry::locate(m, f, root).is_err());
    if all_absent {
        let searched = match registry::locate(m, &m.files[0], root) {
            Err(ssad_data::Error::MissingFile { searched, .. }) => searched
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        };
        return Outcome::Missing(format!(
            "not at {searched}{}; to get it: {}",
            if m.files.len() > 1 {
                " (nor the other files)"
            } else {
                ""
            },
            m.how_to_obtain()
        ));
    }
    match registry::check(m, root) {
        Ok(report) => Outcome::Ok(report),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn text_line(m: &Manifest, outcome: &Outcome, fails: bool, width: usize) -> String {
    let name = &m.name;
    match outcome {
        Outcome::Ok(r) => format!(
            "ok      {name:width$}  {}  [{} file{}, sha256 ok]",
            r.contents,
            r.files,
            if r.files == 1 { "" } else { "s" }
        ),
        Outcome::Missing(why) => format!(
            "{}  {name:width$}  missing{}: {why}",
            if fails { "FAIL  " } else { "skip  " },
            if m.optional { " (optional)" } else { "" }
        ),
        Outcome::Failed(why) => format!("FAIL    {name:width$}  {why}"),
    }
}

fn json_line(m: &Manifest, outcome: &Outcome, fails: bool, took: Duration) -> serde_json::Value {
    let mut v = serde_json::json!({
        "name": m.name,
        "optional": m.optional,
        "seconds": took.as_secs_f64(),
    });
    let (status, extra) = match outcome {
        Outcome::Ok(r) => (
            "ok",
            serde_json::json!({ "files": r.files, "bytes": r.bytes, "contents": r.contents }),
        ),
        Outcome::Missing(why) => (
            if fails { "missing" } else { "skipped" },
            serde_json::json!({ "missing": why }),
        ),
        Outcome::Failed(why) => ("failed", serde_json::json!({ "error": why })),
    };
    v["status"] = status.into();
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}

fn fetch(args: &FetchArgs) -> Result<()> {
    let root = args.locations.data_dir();
    let reg = args.locations.registry()?;
    let m = reg.get(&args.name)?;
    if args.base_url.is_none() && !m.is_fetchable() {
        bail!(
            "dataset `{}` cannot be downloaded from its manifest: {}",
            m.name,
            m.how_to_obtain()
        );
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(600)))
        .build()
        .into();
    for file in &m.files {
        let dest = registry::path_under(&root, file);
        if dest.exists() {
            registry::verify_file(file, &dest).with_context(|| {
                format!(
                    "{} is present but wrong; it was left in place: remove it to fetch again",
                    dest.display()
                )
            })?;
            println!("ok      {} (already present)", dest.display());
            continue;
        }
        let url = match (&args.base_url, &file.url) {
            (Some(base), _) => format!("{}/{}", base.trim_end_matches('/'), file.path),
            (None, Some(url)) => url.clone(),
            (None, None) => bail!("{}: no URL; {}", file.path, m.how_to_obtain()),
        };
        let response = agent
            .get(&url)
            .call()
            .with_context(|| format!("downloading {url}"))?;
        let mut body = response.into_body().into_reader();
        let did = registry::install(file, &dest, &mut body)
            .with_context(|| format!("downloading {url}: nothing was written"))?;
        match did {
            Installed::Written => println!("fetched {} <- {url}", dest.display()),
            _ => println!("ok      {} (already present)", dest.display()),
        }
    }
    Ok(())
}
