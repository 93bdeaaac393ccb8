//! `goad`: GOAD for tabular data (Bergman & Hoshen, ICLR 2020).
//!
//! Each sample goes through `M` fixed random linear maps `W_m` (`ssad-augment`);
//! a network shared across maps (`ssad-models`, `netC1`/`netC5`) learns to tell
//! which map was applied, with cross-entropy plus `lambda` times the center
//! triplet loss (`ssad-losses`), trained by `ssad-train`'s trainer with Adam
//! `(0.5, 0.999)`. The centers are the average of the last epoch's batch-mean
//! trunk features, and the score is `sum_m -log softmax(-|f(T_m x) - c|^2)[m]`
//! (`ssad-scorers`' center scorer).

mod config;
mod train;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use ssad_augment::GoadAffine;
use ssad_core::{Matrix, MatrixView, Seed};
use ssad_models::{ExtraTensors, GoadNet, SeededVarMap};
use ssad_scorers::{CenterConfig, FittedCenter, FittedScorer};
use ssad_train::Trainer;

pub use config::{GoadConfig, GoadPreset};

use crate::detector::{Detector, Method};
use crate::error::{Error, Result};
use crate::input::Input;
use crate::persist;
use train::{AffineSource, GoadObjective};

/// Registry name.
pub(crate) const NAME: &str = "goad";
const WEIGHTS_FILE: &str = "weights.safetensors";
const TRANSFORMS_FILE: &str = "transforms.safetensors";
const SCORER_DIR: &str = "scorer";
/// Floats per `(rows, M, max(r, ndf))` activation when scoring (64 MiB): bounds
/// memory (KDDRev: 512 rows per pass, Thyroid: 2048).
const SCORE_FLOATS: usize = 1 << 24;

impl Method for GoadConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn config_json(&self) -> Result<serde_json::Value> {
        persist::to_json(self)
    }

    fn fit(&self, train: Input<'_>, seed: Seed) -> Result<Box<dyn Detector>> {
        Ok(Box::new(self.fit_goad(train.tabular(NAME)?, seed)?))
    }
}

impl GoadConfig {
    /// [`Method::fit`] with the concrete detector type.
    pub fn fit_goad(&self, train: MatrixView<'_>, seed: Seed) -> Result<GoadDetector> {
        self.validate()?;
        train.check_non_empty()?;
        train.check_finite()?;
        let device = Device::Cpu;
        let affine = GoadAffine::new(
            train.cols(),
            self.num_transforms,
            self.transform_dim,
            seed.derive(1),
            &device,
        )?;
        let vars = SeededVarMap::new(seed.derive(2));
        let net = GoadNet::new(&self.net(), vars.var_builder(DType::F32, &device))?;
        train::torch_default_init(&vars, seed.derive(3))?;
        let mut objective = GoadObjective::new(net, vars, self.margin, self.lambda)?;
        let source = AffineSource {
            x: train,
            affine: &affine,
        };
        let trainer = Trainer::new(self.train_config(seed))?;
        match &self.checkpoint_dir {
            Some(dir) => trainer.with_run_dir(dir).resume(&mut objective, &source)?,
            None => trainer.train(&mut objective, &source)?,
        };
        let centers = objective
            .centers
            .take()
            .ok_or_else(|| Error::InvalidConfig {
                field: "epochs",
                reason: "training ran no batch".into(),
            })?;
        let centers = Matrix::new(
            centers.flatten_all()?.to_vec1::<f32>()?,
            self.num_transforms,
            self.ndf,
        )?;
        let scorer = FittedCenter::from_centers(self.center_config(), &centers)?;
        Ok(GoadDetector {
            // Where training checkpointed is no part of the model.
            config: GoadConfig {
                checkpoint_dir: None,
                ..self.clone()
            },
            n_features: train.cols(),
            affine,
            net: objective.net,
            vars: objective.vars,
            scorer: Box::new(scorer),
        })
    }

    fn center_config(&self) -> CenterConfig {
        CenterConfig {
            n_transforms: self.num_transforms,
            eps: self.eps,
        }
    }
}

/// A fitted GOAD detector: the affine maps, the network and the centers.
pub struct GoadDetector {
    config: GoadConfig,
    n_features: usize,
    affine: GoadAffine,
    net: GoadNet,
    vars: SeededVarMap,
    scorer: Box<dyn FittedScorer>,
}

impl std::fmt::Debug for GoadDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoadDetector")
            .field("config", &self.config)
            .field("n_features", &self.n_features)
            .finish()
    }
}

impl GoadDetector {
    /// The configuration it was trained with.
    pub fn config(&self) -> &GoadConfig {
        &self.config
    }

    /// Trunk features of every transformed copy, `(rows, M * ndf)`: block `m`
    /// of a row is `f(T_m x)`, the layout the center scorer reads.
    pub fn features(&self, x: MatrixView<'_>) -> Result<Matrix> {
        x.check_width(self.n_features)?;
        let width = self.config.num_transforms * self.config.ndf;
        let t = Tensor::from_slice(x.as_slice(), (x.rows(), x.cols()), &Device::Cpu)?;
        let feats = self.net.activated_features(&self.affine.apply(&t)?)?;
        Ok(Matrix::new(
            feats.flatten_all()?.to_vec1::<f32>()?,
            x.rows(),
            width,
        )?)
    }
}

impl Detector for GoadDetector {
    fn method(&self) -> &'static str {
        NAME
    }

    fn score(&self, x: Input<'_>) -> Result<Vec<f64>> {
        let x = x.tabular(NAME)?;
        x.check_non_empty()?;
        x.check_width(self.n_features)?;
        x.check_finite()?;
        let mut scores = Vec::with_capacity(x.rows());
        let width = self.config.num_transforms * self.config.transform_dim.max(self.config.ndf);
        let chunk_rows = (SCORE_FLOATS / width.max(1)).max(1);
        for chunk in x.as_slice().chunks(chunk_rows * self.n_features) {
            let rows = MatrixView::new(chunk, chunk.len() / self.n_features, self.n_features)?;
            scores.extend(self.scorer.score(self.features(rows)?.view())?);
        }
        Ok(scores)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        persist::write_header(
            dir,
            NAME,
            persist::to_json(&self.config)?,
            serde_json::json!({ "n_features": self.n_features }),
        )?;
        self.vars.save(dir.join(WEIGHTS_FILE))?;
        let path = dir.join(TRANSFORMS_FILE);
        candle_core::safetensors::save(&self.affine.to_tensors()?, &path)?;
        ssad_scorers::save(self.scorer.as_ref(), &dir.join(SCORER_DIR))?;
        Ok(())
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Fitted {
    n_features: usize,
}

/// Loads a detector saved by [`GoadDetector`]'s `save`.
pub(crate) fn load(dir: &Path) -> Result<Box<dyn Detector>> {
    let header = persist::read_header_of(dir, NAME)?;
    let config: GoadConfig = persist::parse(header.config, Some(dir))?;
    let fitted: Fitted = persist::parse(header.fitted, Some(dir))?;
    config.validate()?;
    let corrupt = |reason: String| Error::CorruptModel {
        path: dir.to_path_buf(),
        reason,
    };
    let device = Device::Cpu;
    // The seed only fills values that the weight file then overwrites.
    let vars = SeededVarMap::new(Seed(0));
    let net = GoadNet::new(&config.net(), vars.var_builder(DType::F32, &device))?;
    vars.load(dir.join(WEIGHTS_FILE), ExtraTensors::Reject)?;
    let path = dir.join(TRANSFORMS_FILE);
    let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
    let tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load_buffer(&bytes, &device)
            .map_err(|e| corrupt(format!("{TRANSFORMS_FILE}: {e}")))?;
    let affine = GoadAffine::from_tensors(&tensors)?;
    if (affine.dim_in(), affine.count(), affine.dim_out())
        != (
            fitted.n_features,
            config.num_transforms,
            config.transform_dim,
        )
    {
        return Err(corrupt(format!(
            "{TRANSFORMS_FILE} holds {} maps {} -> {}, the config wants {} maps {} -> {}",
            affine.count(),
            affine.dim_in(),
            affine.dim_out(),
            config.num_transforms,
            fitted.n_features,
            config.transform_dim
        )));
    }
    let scorer = ssad_scorers::load(&dir.join(SCORER_DIR))?;
    if scorer.n_features() != config.num_transforms * config.ndf {
        return Err(corrupt(format!(
            "the saved scorer reads {} features, not M * ndf = {}",
            scorer.n_features(),
            config.num_transforms * config.ndf
        )));
    }
    Ok(Box::new(GoadDetector {
        config,
        n_features: fitted.n_features,
        affine,
        net,
        vars,
        scorer,
    }))
}

impl crate::registry::MethodConfig for GoadConfig {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Matrix {
        let values = (0..96 * 5)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        Matrix::new(values, 96, 5).unwrap()
    }

    fn scores(cfg: &GoadConfig) -> Vec<f64> {
        let x = data();
        let det = cfg.fit_goad(x.view(), Seed(7)).unwrap();
        det.score(Input::Tabular(x.view())).unwrap()
    }

    /// Checkpointing changes nothing; a fit that finds its final checkpoint
    /// trains no further; one that finds an earlier epoch's checkpoint resumes
    /// from it to the same scores, bit for bit.
    #[test]
    fn checkpointed_fit_resumes_to_the_same_scores() {
        let base = GoadConfig {
            num_transforms: 4,
            transform_dim: 3,
            ndf: 4,
            trunk_layers: 2,
            epochs: 3,
            batch_size: 16,
            ..GoadConfig::default()
        };
        let plain = scores(&base);
        let dir = tempfile::tempdir().unwrap();
        let cfg = GoadConfig {
            checkpoint_dir: Some(dir.path().to_path_buf()),
            ..base.clone()
        };
        assert_eq!(scores(&cfg), plain);
        let ckpts = dir.path().join("checkpoints");
        assert!(ckpts.join("epoch-000003").is_dir());
        assert_eq!(scores(&cfg), plain, "resumed from the final checkpoint");
        std::fs::remove_dir_all(ckpts.join("epoch-000003")).unwrap();
        std::fs::remove_dir_all(ckpts.join("epoch-000002")).unwrap();
        assert_eq!(scores(&cfg), plain, "resumed after epoch 1");
        // The fitted detector's config does not carry the folder.
        let det = cfg.fit_goad(data().view(), Seed(7)).unwrap();
        assert_eq!(det.config().checkpoint_dir, None);
    }
}
