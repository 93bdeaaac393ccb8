//! `deep_svdd`: one-class Deep SVDD (Ruff et al., ICML 2018).
//!
//! A bias-free network φ (the reference LeNet for images, an MLP for tabular
//! data), optionally initialised by autoencoder pretraining, is trained with
//! `ssad-losses`' `svdd_loss` to pull the training data towards a fixed center
//! `c` = the mean initial output (coordinates `|c_i| < eps` moved to `±eps`).
//! The score is `|φ(x) - c|²`. Both phases run on `ssad-train`'s trainer.

mod config;
mod net;

use std::path::Path;

use candle_core::{Device, Tensor};
use ssad_core::Seed;
use ssad_models::{ExtraTensors, SeededVarMap};
use ssad_train::{Objective, ParamSet, StepContext, Trainer};

pub use config::DeepSvddConfig;

use crate::autoencoder::{param_set, ReconObjective, Reduction};
use crate::detector::{Detector, Method};
use crate::error::{Error, Result};
use crate::frozen::samples::{self, train_error, Layout, Samples, Standardizer};
use crate::input::Input;
use crate::persist;
use net::{Decoder, SvddNet};

/// Registry name.
pub(crate) const NAME: &str = "deep_svdd";
const WEIGHTS_FILE: &str = "weights.safetensors";

impl Method for DeepSvddConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn config_json(&self) -> Result<serde_json::Value> {
        persist::to_json(self)
    }

    fn fit(&self, train: Input<'_>, seed: Seed) -> Result<Box<dyn Detector>> {
        Ok(Box::new(self.fit_deep_svdd(train, seed)?))
    }
}

impl DeepSvddConfig {
    /// [`Method::fit`] with the concrete detector type.
    pub fn fit_deep_svdd(&self, train: Input<'_>, seed: Seed) -> Result<DeepSvddDetector> {
        self.validate()?;
        let train = samples::check(train, NAME, false, None)?;
        let standardizer = match train.layout {
            Layout::Tabular { .. } if self.standardize => Some(Standardizer::fit(train.view)),
            _ => None,
        };
        let source = Samples::new(&train, standardizer.as_ref());
        let n = train.view.rows();
        let vars = SeededVarMap::new(seed.derive(1));
        let net = SvddNet::new(train.layout, &self.hidden, &vars)?;
        if self.pretrain {
            let decoder_vars = SeededVarMap::new(seed.derive(2));
            let decoder = Decoder::new(train.layout, &self.hidden, &decoder_vars)?;
            let mut ae = ReconObjective {
                forward: |x: &Tensor, t: bool| decoder.forward_t(&net.forward_t(x, t)?, t),
                vars: vec![vars.clone(), decoder_vars],
                reduction: Reduction::SumPerSample,
            };
            let mut config = self.ae_train_config(seed.derive(3));
            config.drop_last = samples::drop_single_last(n, self.ae_batch_size);
            Trainer::new(config)?.train(&mut ae, &source)?;
        }
        let center = self.center(&net, &source)?;
        let mut objective = SvddObjective {
            net: &net,
            vars: vars.clone(),
            center: Tensor::from_slice(&center, center.len(), &Device::Cpu)?,
        };
        let mut config = self.train_config(seed.derive(4));
        config.drop_last = samples::drop_single_last(n, self.batch_size);
        Trainer::new(config)?.train(&mut objective, &source)?;
        Ok(DeepSvddDetector {
            config: self.clone(),
            layout: train.layout,
            standardizer,
            center,
            net,
            vars,
        })
    }

    /// `init_center_c`: the mean eval-mode output over the training set, then
    /// coordinates with `|c_i| < eps` set to `±eps` by their sign (exact zeros stay).
    fn center(&self, net: &SvddNet, source: &Samples<'_>) -> Result<Vec<f32>> {
        let d = net.rep_dim();
        let mut sum = vec![0.0f64; d];
        let mut n = 0usize;
        source.map_chunks(|batch| {
            let out = net.forward_t(batch, false)?.to_vec2::<f32>()?;
            n += out.len();
            for row in out {
                for (s, v) in sum.iter_mut().zip(row) {
                    *s += f64::from(v);
                }
            }
            Ok(Vec::<()>::new())
        })?;
        Ok(sum
            .into_iter()
            .map(|s| {
                let c = s / n.max(1) as f64;
                let c = if c.abs() < self.eps && c != 0.0 {
                    self.eps.copysign(c)
                } else {
                    c
                };
                c as f32
            })
            .collect())
    }
}

/// The one-class objective `mean |φ(x) - c|²` (weight decay is the optimiser's).
struct SvddObjective<'a> {
    net: &'a SvddNet,
    vars: SeededVarMap,
    center: Tensor,
}

impl Objective for SvddObjective<'_> {
    type Batch = Tensor;

    fn params(&self) -> ParamSet {
        param_set(
            std::slice::from_ref(&self.vars),
            SeededVarMap::named_trainable_vars,
        )
    }

    fn state(&self) -> ParamSet {
        param_set(std::slice::from_ref(&self.vars), SeededVarMap::named_vars)
    }

    fn loss(&mut self, batch: &Tensor, ctx: &StepContext) -> ssad_train::Result<Tensor> {
        let emb = self.net.forward_t(batch, ctx.train).map_err(train_error)?;
        ssad_losses::svdd_loss(&emb, &self.center).map_err(train_error)
    }
}

/// A fitted Deep SVDD detector: the network and its center.
pub struct DeepSvddDetector {
    config: DeepSvddConfig,
    layout: Layout,
    standardizer: Option<Standardizer>,
    center: Vec<f32>,
    net: SvddNet,
    vars: SeededVarMap,
}

impl std::fmt::Debug for DeepSvddDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeepSvddDetector")
            .field("config", &self.config)
            .field("layout", &self.layout)
            .field("rep_dim", &self.center.len())
            .finish()
    }
}

impl DeepSvddDetector {
    /// The hypersphere center `c`.
    pub fn center(&self) -> &[f32] {
        &self.center
    }
}

impl Detector for DeepSvddDetector {
    fn method(&self) -> &'static str {
        NAME
    }

    fn score(&self, x: Input<'_>) -> Result<Vec<f64>> {
        let x = samples::check(x, NAME, false, Some(self.layout))?;
        let center = Tensor::from_slice(&self.center, (1, self.center.len()), &Device::Cpu)?;
        Samples::new(&x, self.standardizer.as_ref()).map_chunks(|batch| {
            let emb = self.net.forward_t(batch, false)?;
            samples::per_sample_sq_sum(&emb.broadcast_sub(&center)?)
        })
    }

    fn save(&self, dir: &Path) -> Result<()> {
        persist::write_header(
            dir,
            NAME,
            persist::to_json(&self.config)?,
            serde_json::json!({
                "layout": self.layout,
                "standardizer": self.standardizer,
                "center": self.center,
            }),
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
    center: Vec<f32>,
}

/// Loads a detector saved by [`DeepSvddDetector`]'s `save`.
pub(crate) fn load(dir: &Path) -> Result<Box<dyn Detector>> {
    let header = persist::read_header_of(dir, NAME)?;
    let config: DeepSvddConfig = persist::parse(header.config, Some(dir))?;
    let fitted: Fitted = persist::parse(header.fitted, Some(dir))?;
    config.validate()?;
    let corrupt = |reason: String| Error::CorruptModel {
        path: dir.to_path_buf(),
        reason,
    };
    samples::check_standardizer(fitted.standardizer.as_ref(), fitted.layout).map_err(corrupt)?;
    // The seed only fills values that the weight file then overwrites.
    let vars = SeededVarMap::new(Seed(0));
    let net = SvddNet::new(fitted.layout, &config.hidden, &vars)?;
    vars.load(dir.join(WEIGHTS_FILE), ExtraTensors::Reject)?;
    if fitted.center.len() != net.rep_dim() || !fitted.center.iter().all(|c| c.is_finite()) {
        return Err(corrupt(format!(
            "the center has {} values (finite: {}), the network gives {}",
            fitted.center.len(),
            fitted.center.iter().all(|c| c.is_finite()),
            net.rep_dim()
        )));
    }
    Ok(Box::new(DeepSvddDetector {
        config,
        layout: fitted.layout,
        standardizer: fitted.standardizer,
        center: fitted.center,
        net,
        vars,
    }))
}

impl crate::registry::MethodConfig for DeepSvddConfig {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}
