//! `autoencoder`: reconstruction-error baseline. A dense (tabular) or
//! convolutional (images) autoencoder of `ssad-models` is trained with MSE by
//! `ssad-train`'s trainer; the score is `|x - AE(x)|`, PyOD's `AutoEncoder`.

mod config;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use ssad_core::Seed;
use ssad_models::{ConvAutoencoder, DenseAutoencoder, ExtraTensors, SeededVarMap};
use ssad_train::{Objective, ParamSet, StepContext, Trainer};

pub use config::AutoencoderConfig;

use crate::detector::{Detector, Method};
use crate::error::{Error, Result};
use crate::frozen::samples::{self, train_error, Layout, Samples, Standardizer};
use crate::input::Input;
use crate::persist;

/// Registry name.
pub(crate) const NAME: &str = "autoencoder";
const WEIGHTS_FILE: &str = "weights.safetensors";

impl Method for AutoencoderConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn config_json(&self) -> Result<serde_json::Value> {
        persist::to_json(self)
    }

    fn fit(&self, train: Input<'_>, seed: Seed) -> Result<Box<dyn Detector>> {
        Ok(Box::new(self.fit_autoencoder(train, seed)?))
    }
}

impl AutoencoderConfig {
    /// [`Method::fit`] with the concrete detector type.
    pub fn fit_autoencoder(&self, train: Input<'_>, seed: Seed) -> Result<AutoencoderDetector> {
        self.validate()?;
        let train = samples::check(train, NAME, false, None)?;
        let standardizer = match train.layout {
            Layout::Tabular { .. } if self.standardize => Some(Standardizer::fit(train.view)),
            _ => None,
        };
        let vars = SeededVarMap::new(seed.derive(1));
        let net = AeNet::new(self, train.layout, &vars)?;
        let source = Samples::new(&train, standardizer.as_ref());
        let mut objective = ReconObjective {
            forward: |x: &Tensor, t: bool| net.forward_t(x, t),
            vars: vec![vars.clone()],
            reduction: Reduction::MeanAll,
        };
        let mut train_config = self.train_config(seed);
        train_config.drop_last = samples::drop_single_last(train.view.rows(), self.batch_size);
        Trainer::new(train_config)?.train(&mut objective, &source)?;
        Ok(AutoencoderDetector {
            config: self.clone(),
            layout: train.layout,
            standardizer,
            net,
            vars,
        })
    }
}

/// The autoencoder for a layout.
#[derive(Debug)]
enum AeNet {
    Dense(DenseAutoencoder),
    Conv(ConvAutoencoder),
}

impl AeNet {
    fn new(config: &AutoencoderConfig, layout: Layout, vars: &SeededVarMap) -> Result<Self> {
        let vb = vars.var_builder(DType::F32, &Device::Cpu);
        Ok(match layout {
            Layout::Tabular { n_features } => {
                AeNet::Dense(DenseAutoencoder::new(n_features, &config.dense, vb)?)
            }
            Layout::Images { shape } => {
                AeNet::Conv(ConvAutoencoder::new(&config.conv(shape)?, vb)?)
            }
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        Ok(match self {
            AeNet::Dense(n) => n.forward_t(x, train)?,
            AeNet::Conv(n) => n.forward_t(x, train)?,
        })
    }
}

/// How the squared reconstruction error becomes the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reduction {
    /// Mean over every value (PyTorch's `MSELoss`, PyOD).
    MeanAll,
    /// Mean over samples of the per-sample sum (the Deep SVDD code's autoencoder).
    SumPerSample,
}

/// Reconstruction objective for any network given as its forward function.
pub(crate) struct ReconObjective<F> {
    /// `(batch, train) -> reconstruction` of the batch's shape.
    pub forward: F,
    /// Every store whose variables the network uses.
    pub vars: Vec<SeededVarMap>,
    pub reduction: Reduction,
}

/// The variables of several stores as one set (their names never collide:
/// each network part builds under its own prefix).
pub(crate) fn param_set(
    vars: &[SeededVarMap],
    pick: impl Fn(&SeededVarMap) -> Vec<(String, candle_core::Var)>,
) -> ParamSet {
    // Names come from sorted maps with distinct prefixes, so this cannot fail.
    ParamSet::new(vars.iter().flat_map(pick).collect()).unwrap_or_default()
}

impl<F> Objective for ReconObjective<F>
where
    F: Fn(&Tensor, bool) -> Result<Tensor>,
{
    type Batch = Tensor;

    fn params(&self) -> ParamSet {
        param_set(&self.vars, SeededVarMap::named_trainable_vars)
    }

    fn state(&self) -> ParamSet {
        param_set(&self.vars, SeededVarMap::named_vars)
    }

    fn loss(&mut self, batch: &Tensor, ctx: &StepContext) -> ssad_train::Result<Tensor> {
        let recon = (self.forward)(batch, ctx.train).map_err(train_error)?;
        let sq = (recon - batch)?.sqr()?;
        Ok(match self.reduction {
            Reduction::MeanAll => sq.mean_all()?,
            Reduction::SumPerSample => {
                let b = sq.dim(0)?;
                sq.reshape((b, ()))?.sum(1)?.mean_all()?
            }
        })
    }
}

/// A fitted autoencoder detector.
pub struct AutoencoderDetector {
    config: AutoencoderConfig,
    layout: Layout,
    standardizer: Option<Standardizer>,
    net: AeNet,
    vars: SeededVarMap,
}

impl std::fmt::Debug for AutoencoderDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoencoderDetector")
            .field("config", &self.config)
            .field("layout", &self.layout)
            .finish()
    }
}

impl Detector for AutoencoderDetector {
    fn method(&self) -> &'static str {
        NAME
    }

    fn score(&self, x: Input<'_>) -> Result<Vec<f64>> {
        let x = samples::check(x, NAME, false, Some(self.layout))?;
        Samples::new(&x, self.standardizer.as_ref()).map_chunks(|batch| {
            let err = (self.net.forward_t(batch, false)? - batch)?;
            Ok(samples::per_sample_sq_sum(&err)?
                .into_iter()
                .map(f64::sqrt)
                .collect())
        })
    }

    fn save(&self, dir: &Path) -> Result<()> {
        persist::write_header(
            dir,
            NAME,
            persist::to_json(&self.config)?,
            serde_json::json!({ "layout": self.layout, "standardizer": self.standardizer }),
        )?;
        self.vars.save(dir.join(WEIGHTS_FILE))?;
        Ok(())
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Fitted {
    layout: Layout,
    standardizer: Option<Standardizer>,
}

/// Loads a detector saved by [`AutoencoderDetector`]'s `save`.
pub(crate) fn load(dir: &Path) -> Result<Box<dyn Detector>> {
    let header = persist::read_header_of(dir, NAME)?;
    let config: AutoencoderConfig = persist::parse(header.config, Some(dir))?;
    let fitted: Fitted = persist::parse(header.fitted, Some(dir))?;
    config.validate()?;
    samples::check_standardizer(fitted.standardizer.as_ref(), fitted.layout).map_err(|reason| {
        Error::CorruptModel {
            path: dir.to_path_buf(),
            reason,
        }
    })?;
    // The seed only fills values that the weight file then overwrites.
    let vars = SeededVarMap::new(Seed(0));
    let net = AeNet::new(&config, fitted.layout, &vars)?;
    vars.load(dir.join(WEIGHTS_FILE), ExtraTensors::Reject)?;
    Ok(Box::new(AutoencoderDetector {
        config,
        layout: fitted.layout,
        standardizer: fitted.standardizer,
        net,
        vars,
    }))
}

impl crate::registry::MethodConfig for AutoencoderConfig {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}
