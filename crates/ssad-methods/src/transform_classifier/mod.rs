//! `rotnet`, `geom`, `goad-images`: one-class detectors that learn to recognise
//! which transformation was applied to a normal image.
//!
//! One implementation, parameterised by the transformation family
//! (`ssad-augment`'s `Rotations` or GEOM's 72 `Geom` transforms), the backbone
//! (`ssad-models`, WRN-10-4 by default), the loss (`ssad-losses`: cross-entropy,
//! plus GOAD's center triplet) and the score (`ssad-scorers`: softmax, Dirichlet
//! or center). Training runs `ssad-train`'s trainer over the expanded set, each
//! `(image, transformation)` pair a sample, transformations applied per batch.
//!
//! Scoring expands each test image into its `K` transformed copies, runs them
//! through the network in eval mode (BatchNorm running statistics) in batches of
//! `eval_batch_size` pairs, and hands the `(N, K * W)` block matrix (logits, or
//! pooled features for the center score) to the fitted scorer.

mod config;
mod train;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use ssad_augment::{expand, TransformFamily};
use ssad_core::{Matrix, Seed};
use ssad_models::{Backbone, BackboneConfig, ExtraTensors, LinearHead, SeededVarMap};
use ssad_scorers::{
    CenterConfig, DirichletConfig, FittedCenter, FittedScorer, Scorer, SoftmaxConfig,
};
use ssad_train::Trainer;

pub use config::{
    CenterLoss, GeomConfig, GeomMethod, GoadImagesConfig, GoadImagesMethod, RotNetConfig,
    RotNetMethod, TransformClassifierConfig, TransformScore, Transforms, Variant,
};

use crate::detector::{Detector, Method};
use crate::error::{Error, Result};
use crate::input::{ImageBatch, Input};
use crate::persist;
use train::{ClassifierObjective, ExpandedImages};

const WEIGHTS_FILE: &str = "weights.safetensors";
const SCORER_DIR: &str = "scorer";

impl<V: Variant> Method for TransformClassifierConfig<V> {
    fn name(&self) -> &'static str {
        V::NAME
    }

    fn config_json(&self) -> Result<serde_json::Value> {
        persist::to_json(self)
    }

    fn fit(&self, train: Input<'_>, seed: Seed) -> Result<Box<dyn Detector>> {
        Ok(Box::new(self.fit_images(train.images(V::NAME)?, seed)?))
    }
}

fn chw(batch: &ImageBatch<'_>) -> [usize; 3] {
    let [_, c, h, w] = batch.shape();
    [c, h, w]
}

/// The classifier: variables, backbone and head.
struct Network {
    vars: SeededVarMap,
    backbone: Box<dyn Backbone>,
    head: LinearHead,
}

impl Network {
    fn new(backbone: &BackboneConfig, k: usize, seed: Seed) -> Result<Self> {
        let vars = SeededVarMap::new(seed);
        let vb = vars.var_builder(DType::F32, &Device::Cpu);
        let backbone = backbone.build(vb.pp("backbone"))?;
        let head = LinearHead::new(backbone.embed_dim(), k, vb.pp("head"))?;
        Ok(Self {
            vars,
            backbone,
            head,
        })
    }
}

impl<V: Variant> TransformClassifierConfig<V> {
    /// [`Method::fit`] with the concrete detector type.
    pub fn fit_images(&self, train: ImageBatch<'_>, seed: Seed) -> Result<TransformDetector<V>> {
        self.validate()?;
        let shape = chw(&train);
        let family = self.transforms.family();
        let k = family.len();
        let backbone = self.backbone_for(shape[0]);
        let net = Network::new(&backbone, k, seed.derive(1))?;
        let track_centers = self.score == TransformScore::Center;
        let mut objective = ClassifierObjective::new(
            net.vars,
            net.backbone,
            net.head,
            k,
            self.center_loss,
            track_centers,
        );
        let source =
            ExpandedImages::new(train.data(), shape, family.as_ref(), self.group_transforms)?;
        Trainer::new(self.train_config(seed))?.train(&mut objective, &source)?;
        let mut detector = TransformDetector {
            config: self.clone(),
            shape,
            backbone,
            family,
            net: Network {
                vars: objective.vars,
                backbone: objective.backbone,
                head: objective.head,
            },
            scorer: None,
        };
        let scorer: Box<dyn FittedScorer> = match self.score {
            // The softmax score learns nothing; fitting only fixes the input width.
            TransformScore::Softmax => Box::new(
                SoftmaxConfig {
                    n_transforms: k,
                    ..SoftmaxConfig::default()
                }
                .fit(Matrix::new(vec![0.0; k * k], 1, k * k)?.view())?,
            ),
            TransformScore::Dirichlet => {
                let outputs = detector.outputs(train)?;
                Box::new(
                    DirichletConfig {
                        n_transforms: k,
                        ..DirichletConfig::default()
                    }
                    .fit(outputs.view())?,
                )
            }
            TransformScore::Center => {
                let centers = objective
                    .centers
                    .take()
                    .ok_or_else(|| Error::InvalidConfig {
                        field: "epochs",
                        reason: "training ran no batch".into(),
                    })?;
                let dim = centers.dim(1)?;
                let centers = Matrix::new(centers.flatten_all()?.to_vec1::<f32>()?, k, dim)?;
                Box::new(FittedCenter::from_centers(
                    CenterConfig {
                        n_transforms: k,
                        eps: 0.0,
                    },
                    &centers,
                )?)
            }
        };
        detector.scorer = Some(scorer);
        Ok(detector)
    }
}

/// A fitted transformation classifier: the network and the scorer on its outputs.
pub struct TransformDetector<V: Variant> {
    config: TransformClassifierConfig<V>,
    /// `[C, H, W]` of the training images.
    shape: [usize; 3],
    /// The backbone as built (input channels resolved).
    backbone: BackboneConfig,
    family: Box<dyn TransformFamily>,
    net: Network,
    /// `None` only while fitting.
    scorer: Option<Box<dyn FittedScorer>>,
}

impl<V: Variant> std::fmt::Debug for TransformDetector<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformDetector")
            .field("method", &V::NAME)
            .field("config", &self.config)
            .field("shape", &self.shape)
            .finish()
    }
}

impl<V: Variant> TransformDetector<V> {
    /// The configuration it was trained with.
    pub fn config(&self) -> &TransformClassifierConfig<V> {
        &self.config
    }

    /// The network's outputs on every transformed copy, `(N, K * W)`: block `k`
    /// of a row is the output on `T_k(x)`, logits (`W = K`) or, for the center
    /// score, pooled features (`W` = the backbone's width).
    pub fn outputs(&self, x: ImageBatch<'_>) -> Result<Matrix> {
        let got = chw(&x);
        if got != self.shape {
            return Err(Error::ImageShape {
                method: V::NAME,
                expected: self.shape,
                got,
            });
        }
        let k = self.family.len();
        let n = x.len();
        let image = got.iter().product::<usize>();
        let per_pass = (self.config.eval_batch_size / k).max(1);
        let [c, h, w] = got;
        let mut out: Vec<f32> = Vec::new();
        let mut width = 0;
        for chunk in x.data().chunks(per_pass * image) {
            let b = chunk.len() / image;
            let t = Tensor::from_slice(chunk, (b, c, h, w), &Device::Cpu)?;
            // Member-major: row `k * b + i` is image `i` under member `k`.
            let expanded = expand(self.family.as_ref(), &t)?.images;
            let feats = self.net.backbone.forward_features(&expanded, false)?;
            let rows = if self.config.score == TransformScore::Center {
                feats
            } else {
                self.net.head.forward(&feats)?
            };
            width = rows.dim(1)?;
            // (K, b, W) -> (b, K, W): the block layout of the scorers.
            let rows = rows.reshape((k, b, width))?.transpose(0, 1)?;
            out.extend(rows.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(Matrix::new(out, n, k * width)?)
    }
}

impl<V: Variant> Detector for TransformDetector<V> {
    fn method(&self) -> &'static str {
        V::NAME
    }

    fn score(&self, x: Input<'_>) -> Result<Vec<f64>> {
        let x = x.images(V::NAME)?;
        let scorer = self.scorer.as_ref().ok_or_else(|| Error::InvalidConfig {
            field: "scorer",
            reason: "the detector is not fitted".into(),
        })?;
        Ok(scorer.score(self.outputs(x)?.view())?)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let scorer = self.scorer.as_ref().ok_or_else(|| Error::InvalidConfig {
            field: "scorer",
            reason: "the detector is not fitted".into(),
        })?;
        persist::write_header(
            dir,
            V::NAME,
            persist::to_json(&self.config)?,
            serde_json::json!({ "shape": self.shape, "backbone": persist::to_json(&self.backbone)? }),
        )?;
        self.net.vars.save(dir.join(WEIGHTS_FILE))?;
        ssad_scorers::save(scorer.as_ref(), &dir.join(SCORER_DIR))?;
        Ok(())
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Fitted {
    shape: [usize; 3],
    backbone: BackboneConfig,
}

/// Loads a detector saved by [`TransformDetector`]'s `save`.
pub(crate) fn load<V: Variant>(dir: &Path) -> Result<Box<dyn Detector>> {
    let header = persist::read_header_of(dir, V::NAME)?;
    let config: TransformClassifierConfig<V> = persist::parse(header.config, Some(dir))?;
    let fitted: Fitted = persist::parse(header.fitted, Some(dir))?;
    config.validate()?;
    let family = config.transforms.family();
    let k = family.len();
    // The seed only fills values that the weight file then overwrites.
    let net = Network::new(&fitted.backbone, k, Seed(0))?;
    net.vars
        .load(dir.join(WEIGHTS_FILE), ExtraTensors::Reject)?;
    let scorer = ssad_scorers::load(&dir.join(SCORER_DIR))?;
    let width = if config.score == TransformScore::Center {
        net.backbone.embed_dim()
    } else {
        k
    };
    if scorer.n_features() != k * width {
        return Err(Error::CorruptModel {
            path: dir.to_path_buf(),
            reason: format!(
                "the saved scorer reads {} values per image, not K * W = {}",
                scorer.n_features(),
                k * width
            ),
        });
    }
    Ok(Box::new(TransformDetector {
        config,
        shape: fitted.shape,
        backbone: fitted.backbone,
        family,
        net,
        scorer: Some(scorer),
    }))
}

impl<V: Variant> crate::registry::MethodConfig for TransformClassifierConfig<V> {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}
