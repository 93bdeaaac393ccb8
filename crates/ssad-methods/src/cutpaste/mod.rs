//! `cutpaste`: CutPaste (Li et al., CVPR 2021) with its patch-level localization.
//!
//! Training (`train.rs`): `ssad-augment`'s [`ssad_augment::CutPasteViews`] turn
//! each batch of normal images into labelled views (normal / CutPaste / scar, by
//! task); an `ssad-models` encoder plus `CutPasteHead` learns to classify them
//! with cross-entropy, through `ssad-train`'s trainer. Scoring: `ssad-scorers`'
//! GDE on the L2-normalised encoder features of the training images.
//!
//! Localization (`localize.rs`): a second network trained the same way on random
//! square crops embeds every window of a test image at a stride; a GDE fitted
//! on the training images' windows scores them; the window scores become pixel
//! scores (mean over the covering windows, then Gaussian smoothing). The colour
//! scale of heatmaps is the low/high percentiles of held-out training pixel
//! scores (2-fold cross-fitting of the window GDE over the training images).

mod config;
mod localize;
mod train;

use std::path::Path;

use candle_core::{Device, Tensor};
use ssad_core::{Matrix, MatrixView, Seed};
use ssad_models::ExtraTensors;
use ssad_scorers::{FittedScorer, Scorer};
use ssad_train::Trainer;

pub use config::{CutPasteConfig, LocalizationConfig};
pub use ssad_augment::CutPasteTask;

use crate::detector::{AnomalyMaps, Detector, Method};
use crate::error::{Error, Result};
use crate::input::{ImageBatch, Input};
use crate::persist;
use train::{CutPasteObjective, Network, ViewSource};

/// Registry name.
pub(crate) const NAME: &str = "cutpaste";
const WEIGHTS_FILE: &str = "weights.safetensors";
const SCORER_DIR: &str = "scorer";
const LOCAL_WEIGHTS_FILE: &str = "local_weights.safetensors";
const LOCAL_SCORER_DIR: &str = "local_scorer";

impl Method for CutPasteConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn config_json(&self) -> Result<serde_json::Value> {
        persist::to_json(self)
    }

    fn fit(&self, train: Input<'_>, seed: Seed) -> Result<Box<dyn Detector>> {
        Ok(Box::new(self.fit_cutpaste(
            train.images(NAME)?,
            seed,
            None,
        )?))
    }
}

fn chw(batch: &ImageBatch<'_>) -> [usize; 3] {
    let [_, c, h, w] = batch.shape();
    [c, h, w]
}

impl CutPasteConfig {
    /// [`Method::fit`] with the concrete detector type. With `run_dir`, the
    /// trainer writes each model's per-step loss and learning rate to
    /// `run_dir/{image,patch}/metrics.jsonl`.
    pub fn fit_cutpaste(
        &self,
        train: ImageBatch<'_>,
        seed: Seed,
        run_dir: Option<&Path>,
    ) -> Result<CutPasteDetector> {
        self.validate()?;
        let shape = chw(&train);
        let n = train.len();
        if n < 2 {
            return Err(Error::InvalidConfig {
                field: "train",
                reason: "the Gaussian density needs at least 2 training images".into(),
            });
        }
        let net = self.train_network(
            train,
            None,
            seed.derive(1),
            run_dir.map(|d| d.join("image")),
        )?;
        let feats = net.embed_host(train.data(), n, shape)?;
        let feats = Matrix::new(feats, n, net.backbone.embed_dim())?;
        let gde = Box::new(self.gde.fit(feats.view())?);
        let local = if self.localization.enabled {
            Some(self.fit_local(train, seed.derive(2), run_dir.map(|d| d.join("patch")))?)
        } else {
            None
        };
        Ok(CutPasteDetector {
            config: self.clone(),
            shape,
            net,
            gde,
            local,
        })
    }

    /// Trains a network on the views of `train` (or of its random `crop`s).
    fn train_network(
        &self,
        train: ImageBatch<'_>,
        crop: Option<usize>,
        seed: Seed,
        run_dir: Option<std::path::PathBuf>,
    ) -> Result<Network> {
        let shape = chw(&train);
        let views = self.views()?;
        let (steps, batch) = match crop {
            None => (self.steps, self.batch()),
            Some(_) => (self.localization.steps, self.local_batch()),
        };
        let net = Network::new(self, shape[0], views.n_views(), seed.derive(1))?;
        let source = ViewSource {
            images: train.data(),
            n: train.len(),
            chw: shape,
            crop,
            views: &views,
            draws: steps * batch,
            seed: seed.derive(2),
        };
        // One image through the views first, so that an image too small for the
        // patches is the augmentation's typed error, not a failed batch.
        let [c, h, w] = shape;
        let (h, w) = crop.map_or((h, w), |p| (p, p));
        let probe = Tensor::from_vec(source_probe(&source, h, w), (1, c, h, w), &Device::Cpu)?;
        views.views(&probe, seed, 0, &[0])?;
        let mut trainer = Trainer::new(self.train_config(seed.derive(3), batch))?;
        if let Some(dir) = run_dir {
            std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
            trainer = trainer.with_run_dir(dir);
        }
        trainer.train(&mut CutPasteObjective { net: &net }, &source)?;
        Ok(net)
    }

    fn fit_local(
        &self,
        train: ImageBatch<'_>,
        seed: Seed,
        run_dir: Option<std::path::PathBuf>,
    ) -> Result<Localizer> {
        let [c, h, w] = chw(&train);
        let loc = &self.localization;
        if loc.patch_size > h || loc.patch_size > w {
            return Err(Error::InvalidConfig {
                field: "localization.patch_size",
                reason: format!("{} does not fit {h}x{w} images", loc.patch_size),
            });
        }
        let (p, s) = (loc.patch_size, loc.fit_stride);
        let grid = (localize::positions(h, p, s), localize::positions(w, p, s));
        if train.len() / 2 * grid.0 * grid.1 < 2 {
            return Err(Error::InvalidConfig {
                field: "train",
                reason: "the held-out heatmap scale needs at least 2 windows in each half \
                         of the training images"
                    .into(),
            });
        }
        let net = self.train_network(train, Some(p), seed, run_dir)?;
        // The training images in the seeded fold order, so that each fold's
        // windows are a contiguous block of rows.
        let image = c * h * w;
        let order = localize::fold_order(train.len(), seed.derive(3));
        let mut shuffled = Vec::with_capacity(train.len() * image);
        for &i in &order {
            shuffled.extend_from_slice(&train.data()[i * image..][..image]);
        }
        // GDE over every training window at `fit_stride`.
        let d = net.backbone.embed_dim();
        let collect = |stride| {
            let mut feats = Vec::new();
            embed_windows(&net, &shuffled, [c, h, w], p, stride, |f, _| {
                feats.extend(f);
                Ok(())
            })?;
            Result::Ok(feats)
        };
        let fit = collect(s)?;
        let per = grid.0 * grid.1;
        let fit = MatrixView::new(&fit, train.len() * per, d)?;
        let gde = self.gde.fit(fit)?;
        // The scale from maps at the test stride: a GDE fitted at a coarser
        // `fit_stride` scores the windows between its own grid's higher.
        let test_grid = (
            localize::positions(h, p, loc.stride),
            localize::positions(w, p, loc.stride),
        );
        let score_feats = if loc.stride == s {
            None
        } else {
            Some(collect(loc.stride)?)
        };
        let score = match &score_feats {
            None => fit,
            Some(f) => MatrixView::new(f, f.len() / d, d)?,
        };
        let (low, high) = localize::held_out_scale(
            &self.gde,
            localize::ImageWindows { feats: fit, per },
            localize::ImageWindows {
                feats: score,
                per: test_grid.0 * test_grid.1,
            },
            test_grid,
            (h, w),
            loc,
        )?;
        Ok(Localizer {
            net,
            gde: Box::new(gde),
            scale: (low as f32, high as f32),
        })
    }
}

/// Embeds every `patch` window at `stride` of the `(C, H, W)` images held
/// contiguously in `images`, a group of images at a time so that a forward pass
/// sees many windows; `each` gets every group's window features `(k * gh * gw,
/// D)` and the index of its first image.
fn embed_windows(
    net: &Network,
    images: &[f32],
    [c, h, w]: [usize; 3],
    patch: usize,
    stride: usize,
    mut each: impl FnMut(Vec<f32>, usize) -> Result<()>,
) -> Result<()> {
    let per = localize::positions(h, patch, stride) * localize::positions(w, patch, stride);
    let group = (train::embed_chunk(c * patch * patch) / per).max(1);
    for (g, chunk) in images.chunks(group * c * h * w).enumerate() {
        let win = localize::windows(chunk, [c, h, w], patch, stride);
        let k = chunk.len() / (c * h * w);
        each(net.embed_host(&win, k * per, [c, patch, patch])?, g * group)?;
    }
    Ok(())
}

/// The first training image (or its top-left crop), to probe the augmentation.
fn source_probe(source: &ViewSource<'_>, h: usize, w: usize) -> Vec<f32> {
    let [c, ih, iw] = source.chw;
    let mut out = Vec::with_capacity(c * h * w);
    for plane in source.images[..c * ih * iw].chunks_exact(ih * iw) {
        for row in 0..h {
            out.extend_from_slice(&plane[row * iw..][..w]);
        }
    }
    out
}

/// The patch-level network, its window GDE and the heatmap scale.
struct Localizer {
    net: Network,
    gde: Box<dyn FittedScorer>,
    scale: (f32, f32),
}

impl Localizer {
    /// Smoothed pixel scores `(n, H, W)`, flattened, of `n` images.
    fn pixel_maps(
        &self,
        images: &[f32],
        chw: [usize; 3],
        loc: &LocalizationConfig,
    ) -> Result<Vec<f64>> {
        let [_, h, w] = chw;
        let (p, s) = (loc.patch_size, loc.stride);
        let grid = (localize::positions(h, p, s), localize::positions(w, p, s));
        let d = self.net.backbone.embed_dim();
        let mut maps = Vec::with_capacity(images.len() / chw[0]);
        embed_windows(&self.net, images, chw, p, s, |feats, _| {
            let rows = feats.len() / d;
            let scores = self.gde.score(MatrixView::new(&feats, rows, d)?)?;
            maps.extend(localize::pixel_maps(&scores, grid, (h, w), s, loc));
            Ok(())
        })?;
        Ok(maps)
    }
}

/// A fitted CutPaste detector: the image-level network and GDE, and (when
/// localization is enabled) the patch-level network, its GDE and heatmap scale.
pub struct CutPasteDetector {
    config: CutPasteConfig,
    shape: [usize; 3],
    net: Network,
    gde: Box<dyn FittedScorer>,
    local: Option<Localizer>,
}

impl std::fmt::Debug for CutPasteDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CutPasteDetector")
            .field("config", &self.config)
            .field("shape", &self.shape)
            .field("localizes", &self.local.is_some())
            .finish()
    }
}

impl CutPasteDetector {
    /// The configuration it was trained with.
    pub fn config(&self) -> &CutPasteConfig {
        &self.config
    }

    /// `[C, H, W]` of the images it was fitted on (and scores).
    pub fn image_shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Encoder features `(N, D)` of images, the GDE's input.
    pub fn features(&self, x: ImageBatch<'_>) -> Result<Matrix> {
        self.check(&x)?;
        let feats = self.net.embed_host(x.data(), x.len(), self.shape)?;
        Ok(Matrix::new(feats, x.len(), self.net.backbone.embed_dim())?)
    }

    fn check(&self, x: &ImageBatch<'_>) -> Result<()> {
        if chw(x) != self.shape {
            return Err(Error::ImageShape {
                method: NAME,
                expected: self.shape,
                got: chw(x),
            });
        }
        Ok(())
    }
}

impl Detector for CutPasteDetector {
    fn method(&self) -> &'static str {
        NAME
    }

    fn score(&self, x: Input<'_>) -> Result<Vec<f64>> {
        let x = x.images(NAME)?;
        Ok(self.gde.score(self.features(x)?.view())?)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        persist::write_header(
            dir,
            NAME,
            persist::to_json(&self.config)?,
            serde_json::json!({
                "shape": self.shape,
                "heatmap_scale": self.local.as_ref().map(|l| [l.scale.0, l.scale.1]),
            }),
        )?;
        self.net.vars.save(dir.join(WEIGHTS_FILE))?;
        ssad_scorers::save(self.gde.as_ref(), &dir.join(SCORER_DIR))?;
        if let Some(local) = &self.local {
            local.net.vars.save(dir.join(LOCAL_WEIGHTS_FILE))?;
            ssad_scorers::save(local.gde.as_ref(), &dir.join(LOCAL_SCORER_DIR))?;
        }
        Ok(())
    }

    fn anomaly_maps(&self, x: Input<'_>) -> Result<Option<AnomalyMaps>> {
        let Some(local) = &self.local else {
            return Ok(None);
        };
        let x = x.images(NAME)?;
        self.check(&x)?;
        let [_, h, w] = self.shape;
        let maps = local.pixel_maps(x.data(), self.shape, &self.config.localization)?;
        Ok(Some(AnomalyMaps {
            maps: maps.into_iter().map(|v| v as f32).collect(),
            shape: [x.len(), h, w],
            scale: local.scale,
        }))
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Fitted {
    shape: [usize; 3],
    heatmap_scale: Option<[f32; 2]>,
}

/// Loads a detector saved by [`CutPasteDetector`]'s `save`.
pub(crate) fn load(dir: &Path) -> Result<Box<dyn Detector>> {
    let header = persist::read_header_of(dir, NAME)?;
    let config: CutPasteConfig = persist::parse(header.config, Some(dir))?;
    let fitted: Fitted = persist::parse(header.fitted, Some(dir))?;
    config.validate()?;
    let corrupt = |reason: String| Error::CorruptModel {
        path: dir.to_path_buf(),
        reason,
    };
    let classes = config.views()?.n_views();
    // The seed only fills values that the weight files then overwrite.
    let net = Network::new(&config, fitted.shape[0], classes, Seed(0))?;
    net.vars
        .load(dir.join(WEIGHTS_FILE), ExtraTensors::Reject)?;
    let gde = ssad_scorers::load(&dir.join(SCORER_DIR))?;
    let d = net.backbone.embed_dim();
    let check_width = |s: &dyn FittedScorer, what: &str| {
        if s.n_features() == d {
            Ok(())
        } else {
            Err(corrupt(format!(
                "the saved {what} reads {} features, the encoder gives {d}",
                s.n_features()
            )))
        }
    };
    check_width(gde.as_ref(), SCORER_DIR)?;
    let local = match (config.localization.enabled, fitted.heatmap_scale) {
        (true, Some([lo, hi])) => {
            let net = Network::new(&config, fitted.shape[0], classes, Seed(0))?;
            net.vars
                .load(dir.join(LOCAL_WEIGHTS_FILE), ExtraTensors::Reject)?;
            let gde = ssad_scorers::load(&dir.join(LOCAL_SCORER_DIR))?;
            check_width(gde.as_ref(), LOCAL_SCORER_DIR)?;
            Some(Localizer {
                net,
                gde,
                scale: (lo, hi),
            })
        }
        (false, None) => None,
        _ => {
            return Err(corrupt(
                "localization.enabled and the saved heatmap scale disagree".into(),
            ))
        }
    };
    Ok(Box::new(CutPasteDetector {
        config,
        shape: fitted.shape,
        net,
        gde,
        local,
    }))
}

impl crate::registry::MethodConfig for CutPasteConfig {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}
