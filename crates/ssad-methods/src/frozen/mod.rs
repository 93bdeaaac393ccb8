//! `frozen`: frozen-features baseline. A backbone of `ssad-models`, never
//! trained (seed-initialised, or pre-trained weights loaded from a file),
//! embeds the images in eval mode; any scorer of `ssad-scorers` is fitted on
//! the training embeddings and scores the test embeddings.

mod config;
pub(crate) mod samples;

use std::path::Path;

use candle_core::{DType, Device};
use ssad_core::{Matrix, Seed};
use ssad_models::{Backbone, BackboneConfig, ExtraTensors, SeededVarMap};
use ssad_scorers::FittedScorer;

pub use config::FrozenConfig;

use crate::detector::{Detector, Method};
use crate::error::{Error, Result};
use crate::input::Input;
use crate::persist;
use samples::{Checked, Layout, Samples};

/// Registry name.
pub(crate) const NAME: &str = "frozen";
const WEIGHTS_FILE: &str = "weights.safetensors";
const SCORER_DIR: &str = "scorer";

impl Method for FrozenConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn config_json(&self) -> Result<serde_json::Value> {
        persist::to_json(self)
    }

    fn fit(&self, train: Input<'_>, seed: Seed) -> Result<Box<dyn Detector>> {
        Ok(Box::new(self.fit_frozen(train, seed)?))
    }
}

impl FrozenConfig {
    /// [`Method::fit`] with the concrete detector type.
    pub fn fit_frozen(&self, train: Input<'_>, seed: Seed) -> Result<FrozenDetector> {
        let train = samples::check(train, NAME, true, None)?;
        let Layout::Images { shape } = train.layout else {
            return unreachable_layout();
        };
        let backbone_config = self.backbone_for(shape[0]);
        let vars = SeededVarMap::new(seed.derive(1));
        let net = backbone_config.build(vars.var_builder(DType::F32, &Device::Cpu))?;
        if let Some(path) = &self.weights {
            vars.load(path, ExtraTensors::Ignore)?;
        }
        let embedder = Embedder { net, vars };
        let features = embedder.embed(&train)?;
        let scorer = self.seeded_scorer(seed.derive(2)).fit(features.view())?;
        Ok(FrozenDetector {
            config: self.clone(),
            backbone: backbone_config,
            layout: train.layout,
            embedder,
            scorer,
        })
    }
}

/// Only image layouts pass `samples::check(.., images_only = true, ..)`.
fn unreachable_layout<T>() -> Result<T> {
    Err(Error::InputKind {
        method: NAME,
        expected: "images",
        got: "tabular",
    })
}

/// A backbone used as a fixed feature extractor.
struct Embedder {
    net: Box<dyn Backbone>,
    vars: SeededVarMap,
}

impl Embedder {
    /// Pooled eval-mode features of every sample, `(N, embed_dim)`, in chunks.
    fn embed(&self, x: &Checked<'_>) -> Result<Matrix> {
        let samples = Samples::new(x, None);
        let values = samples.map_chunks(|batch| {
            let f = self.net.forward_features(batch, false)?;
            Ok(f.flatten_all()?.to_vec1::<f32>()?)
        })?;
        Ok(Matrix::new(values, x.view.rows(), self.net.embed_dim())?)
    }
}

/// A fitted frozen-features detector: the backbone's weights and the fitted scorer.
pub struct FrozenDetector {
    config: FrozenConfig,
    backbone: BackboneConfig,
    layout: Layout,
    embedder: Embedder,
    scorer: Box<dyn FittedScorer>,
}

impl std::fmt::Debug for FrozenDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrozenDetector")
            .field("config", &self.config)
            .field("backbone", &self.backbone)
            .field("layout", &self.layout)
            .finish()
    }
}

impl FrozenDetector {
    /// The embeddings the scorer sees, `(N, embed_dim)`.
    pub fn embed(&self, x: Input<'_>) -> Result<Matrix> {
        self.embedder
            .embed(&samples::check(x, NAME, true, Some(self.layout))?)
    }
}

impl Detector for FrozenDetector {
    fn method(&self) -> &'static str {
        NAME
    }

    fn score(&self, x: Input<'_>) -> Result<Vec<f64>> {
        Ok(self.scorer.score(self.embed(x)?.view())?)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        persist::write_header(
            dir,
            NAME,
            persist::to_json(&self.config)?,
            serde_json::json!({ "layout": self.layout, "backbone": self.backbone }),
        )?;
        self.embedder.vars.save(dir.join(WEIGHTS_FILE))?;
        ssad_scorers::save(self.scorer.as_ref(), &dir.join(SCORER_DIR))?;
        Ok(())
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Fitted {
    layout: Layout,
    backbone: BackboneConfig,
}

/// Loads a detector saved by [`FrozenDetector`]'s `save`.
pub(crate) fn load(dir: &Path) -> Result<Box<dyn Detector>> {
    let header = persist::read_header_of(dir, NAME)?;
    let config: FrozenConfig = persist::parse(header.config, Some(dir))?;
    let fitted: Fitted = persist::parse(header.fitted, Some(dir))?;
    // The seed only fills values that the weight file then overwrites.
    let vars = SeededVarMap::new(Seed(0));
    let net = fitted
        .backbone
        .build(vars.var_builder(DType::F32, &Device::Cpu))?;
    vars.load(dir.join(WEIGHTS_FILE), ExtraTensors::Reject)?;
    let scorer = ssad_scorers::load(&dir.join(SCORER_DIR))?;
    if scorer.n_features() != net.embed_dim() {
        return Err(Error::CorruptModel {
            path: dir.to_path_buf(),
            reason: format!(
                "the saved scorer reads {} features, the backbone gives {}",
                scorer.n_features(),
                net.embed_dim()
            ),
        });
    }
    Ok(Box::new(FrozenDetector {
        config,
        backbone: fitted.backbone,
        layout: fitted.layout,
        embedder: Embedder { net, vars },
        scorer,
    }))
}

impl crate::registry::MethodConfig for FrozenConfig {}
