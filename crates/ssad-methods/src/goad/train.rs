//! GOAD's training objective and batch source, run by `ssad-train`'s trainer.

use candle_core::{Device, Tensor};
use ssad_augment::GoadAffine;
use ssad_core::MatrixView;
use ssad_models::{GoadNet, SeededVarMap};
use ssad_train::{BatchSource, Objective, ParamSet, StepContext};

/// Builds `(B, M, r)` batches: the rows of `x` through every affine map at once.
pub(crate) struct AffineSource<'a> {
    pub x: MatrixView<'a>,
    pub affine: &'a GoadAffine,
}

impl BatchSource for AffineSource<'_> {
    type Batch = Tensor;

    fn len(&self) -> usize {
        self.x.rows()
    }

    fn batch(&self, indices: &[usize], _epoch: u64) -> ssad_train::Result<Tensor> {
        let rows = self.x.select_rows(indices).map_err(to_train_error)?;
        let (n, d) = rows.shape();
        let x = Tensor::from_vec(rows.into_vec(), (n, d), &Device::Cpu)?;
        self.affine.apply(&x).map_err(to_train_error)
    }
}

fn to_train_error(e: impl std::fmt::Display) -> ssad_train::Error {
    ssad_train::Error::InvalidConfig {
        field: "batch",
        reason: e.to_string(),
    }
}

/// Name of the centers in a checkpoint's objective state.
const CENTERS_KEY: &str = "goad.centers";

/// GOAD's loss, `CE + lambda * center triplet`, and the running sum of batch-mean
/// trunk features from which the centers are taken after the last epoch.
pub(crate) struct GoadObjective {
    pub net: GoadNet,
    pub vars: SeededVarMap,
    pub margin: f64,
    pub lambda: f64,
    sum_means: Option<Tensor>,
    batches: usize,
    /// `(M, ndf)` centers of the epoch that ended last.
    pub centers: Option<Tensor>,
}

impl GoadObjective {
    pub fn new(
        net: GoadNet,
        vars: SeededVarMap,
        margin: f64,
        lambda: f64,
    ) -> candle_core::Result<Self> {
        Ok(Self {
            net,
            vars,
            margin,
            lambda,
            sum_means: None,
            batches: 0,
            centers: None,
        })
    }
}

fn params(named: Vec<(String, candle_core::Var)>) -> ssad_train::Result<ParamSet> {
    ParamSet::new(named)
}

impl Objective for GoadObjective {
    type Batch = Tensor;

    fn params(&self) -> ParamSet {
        // Names come from a sorted map and are unique, so this cannot fail.
        params(self.vars.named_trainable_vars()).unwrap_or_default()
    }

    fn state(&self) -> ParamSet {
        params(self.vars.named_vars()).unwrap_or_default()
    }

    fn loss(&mut self, batch: &Tensor, _ctx: &StepContext) -> ssad_train::Result<Tensor> {
        // GOAD's features are LeakyReLU(0.2) of the trunk output: `fcnet.py`
        // returns the trunk output after its head has activated that very
        // tensor in place, so the centers, the triplet loss and the score all
        // see the activated features (a linear `netC1` trunk would otherwise
        // give all-zero centers on z-scored data).
        let (feats, logits) = self.net.forward_activated(batch).map_err(to_train_error)?;
        let (b, m, _) = feats.dims3()?;
        let mean = feats.mean(0)?.detach();
        self.sum_means = Some(match self.sum_means.take() {
            Some(sum) => (sum + mean)?,
            None => mean,
        });
        self.batches += 1;
        let labels = Tensor::arange(0u32, m as u32, &Device::Cpu)?
            .unsqueeze(0)?
            .broadcast_as((b, m))?
            .flatten_all()?;
        let ce = ssad_losses::cross_entropy(&logits.reshape((b * m, m))?, &labels)
            .map_err(to_train_error)?;
        let tc = ssad_losses::center_triplet(&feats, self.margin).map_err(to_train_error)?;
        Ok((ce + (tc * self.lambda)?)?)
    }

    fn on_epoch_end(&mut self, _epoch: usize) -> ssad_train::Result<()> {
        if let Some(sum) = self.sum_means.take() {
            self.centers = Some((sum / self.batches as f64)?);
        }
        self.batches = 0;
        Ok(())
    }

    /// Checkpoints are written after `on_epoch_end`, when the running sums are
    /// empty: the centers are all the state there is.
    fn extra_state(&self) -> ssad_train::Result<Vec<(String, Tensor)>> {
        Ok(self
            .centers
            .iter()
            .map(|c| (CENTERS_KEY.to_string(), c.clone()))
            .collect())
    }

    fn load_extra_state(
        &mut self,
        mut tensors: std::collections::HashMap<String, Tensor>,
    ) -> ssad_train::Result<()> {
        self.centers = tensors.remove(CENTERS_KEY);
        if let Some(name) = tensors.keys().next() {
            return Err(ssad_train::Error::InvalidConfig {
                field: "extra_state",
                reason: format!("unexpected GOAD checkpoint tensor `{name}`"),
            });
        }
        Ok(())
    }
}

/// Re-draws every weight matrix as PyTorch's default `U(±1/sqrt(fan_in))`.
///
/// GOAD's `weights_init(self.netC)` is called on the container, not through
/// `.apply`, so it matches no layer and the network keeps PyTorch's default
/// initialisation; this re-creates that (biases already follow it).
pub(crate) fn torch_default_init(
    vars: &SeededVarMap,
    seed: ssad_core::Seed,
) -> candle_core::Result<()> {
    use rand::Rng;
    for (index, (name, var)) in vars.named_trainable_vars().into_iter().enumerate() {
        let Ok((rows, cols)) = var.dims2() else {
            continue;
        };
        if !name.ends_with("weight") {
            continue;
        }
        let bound = 1.0 / (cols.max(1) as f32).sqrt();
        let mut rng = seed.rng(ssad_core::Stream::Init, 0, index as u64);
        let values: Vec<f32> = (0..rows * cols)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        var.set(&Tensor::from_vec(values, (rows, cols), var.device())?)?;
    }
    Ok(())
}
