//! The self-labelled training set and the classifier's objective, run by
//! `ssad-train`'s trainer.

use candle_core::{Device, Tensor};
use rayon::prelude::*;
use ssad_augment::TransformFamily;
use ssad_models::{Backbone, LinearHead, SeededVarMap};
use ssad_train::{BatchSource, Objective, ParamSet, StepContext};

use super::config::CenterLoss;

fn to_train_error(e: impl std::fmt::Display) -> ssad_train::Error {
    ssad_train::Error::InvalidConfig {
        field: "batch",
        reason: e.to_string(),
    }
}

/// One training step's images and their transformation labels.
pub(crate) struct TransformBatch {
    /// `(rows, C, H, W)`.
    images: Tensor,
    /// `(rows,)` u32 transformation indices.
    labels: Tensor,
    /// `Some(B)` when the rows are `B` whole images under all `K` members,
    /// member-major (row `k * B + i`); `None` for random pairs.
    groups: Option<usize>,
}

/// The expanded training set: every image under every member of the family.
///
/// Without grouping, sample `s` is the pair `(image s / K, member s % K)` and a
/// batch gathers its pairs through the members' precomputed source maps; with
/// grouping, sample `s` is image `s` and a batch holds its images under all members.
pub(crate) struct ExpandedImages<'a> {
    pub pixels: &'a [f32],
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    pub family: &'a dyn TransformFamily,
    /// `maps[k]`: for member `k`, the input pixel each output pixel copies.
    pub maps: Vec<Vec<u32>>,
    pub group: bool,
}

impl<'a> ExpandedImages<'a> {
    pub fn new(
        pixels: &'a [f32],
        shape: [usize; 3],
        family: &'a dyn TransformFamily,
        group: bool,
    ) -> crate::Result<Self> {
        let maps = (0..family.len())
            .map(|k| family.source_map(k, shape[1], shape[2]))
            .collect::<ssad_augment::Result<Vec<_>>>()?;
        Ok(Self {
            pixels,
            shape,
            family,
            maps,
            group,
        })
    }

    fn image_len(&self) -> usize {
        self.shape.iter().product()
    }
}

impl BatchSource for ExpandedImages<'_> {
    type Batch = TransformBatch;

    fn len(&self) -> usize {
        let images = self.pixels.len() / self.image_len().max(1);
        if self.group {
            images
        } else {
            images * self.family.len()
        }
    }

    fn batch(&self, indices: &[usize], _epoch: u64) -> ssad_train::Result<TransformBatch> {
        let [c, h, w] = self.shape;
        let n = self.image_len();
        let k_count = self.family.len();
        // (image, member) of every output row.
        let pairs: Vec<(usize, usize)> = if self.group {
            (0..k_count)
                .flat_map(|k| indices.iter().map(move |&i| (i, k)))
                .collect()
        } else {
            indices
                .iter()
                .map(|&s| (s / k_count, s % k_count))
                .collect()
        };
        let mut out = vec![0.0f32; pairs.len() * n];
        out.par_chunks_mut(n)
            .zip(&pairs)
            .for_each(|(dst, &(i, k))| {
                let src = &self.pixels[i * n..(i + 1) * n];
                let map = &self.maps[k];
                for (d, s) in dst.chunks_exact_mut(h * w).zip(src.chunks_exact(h * w)) {
                    for (o, &m) in d.iter_mut().zip(map) {
                        *o = s[m as usize];
                    }
                }
            });
        let labels: Vec<u32> = pairs.iter().map(|&(_, k)| k as u32).collect();
        let rows = pairs.len();
        Ok(TransformBatch {
            images: Tensor::from_vec(out, (rows, c, h, w), &Device::Cpu)?,
            labels: Tensor::from_vec(labels, rows, &Device::Cpu)?,
            groups: self.group.then_some(indices.len()),
        })
    }
}

/// Backbone + linear head over `K` classes, trained with cross-entropy (plus
/// GOAD's center terms); with `track_centers`, the mean pooled feature of each
/// member over the epoch that ended last.
pub(crate) struct ClassifierObjective {
    pub vars: SeededVarMap,
    pub backbone: Box<dyn Backbone>,
    pub head: LinearHead,
    pub k: usize,
    pub center_loss: Option<CenterLoss>,
    pub track_centers: bool,
    /// `(K, D)` sum of features this epoch, and the number of images summed.
    sum: Option<Tensor>,
    count: usize,
    /// `(K, D)` centers of the last finished epoch.
    pub centers: Option<Tensor>,
}

impl ClassifierObjective {
    pub fn new(
        vars: SeededVarMap,
        backbone: Box<dyn Backbone>,
        head: LinearHead,
        k: usize,
        center_loss: Option<CenterLoss>,
        track_centers: bool,
    ) -> Self {
        Self {
            vars,
            backbone,
            head,
            k,
            center_loss,
            track_centers,
            sum: None,
            count: 0,
            centers: None,
        }
    }
}

fn params(named: Vec<(String, candle_core::Var)>) -> ParamSet {
    // Names come from a sorted map and are unique, so this cannot fail.
    ParamSet::new(named).unwrap_or_default()
}

impl Objective for ClassifierObjective {
    type Batch = TransformBatch;

    fn params(&self) -> ParamSet {
        params(self.vars.named_trainable_vars())
    }

    fn state(&self) -> ParamSet {
        params(self.vars.named_vars())
    }

    fn loss(&mut self, batch: &TransformBatch, ctx: &StepContext) -> ssad_train::Result<Tensor> {
        let feats = self
            .backbone
            .forward_features(&batch.images, ctx.train)
            .map_err(to_train_error)?;
        let logits = self.head.forward(&feats).map_err(to_train_error)?;
        let Some(b) = batch.groups else {
            return ssad_losses::cross_entropy(&logits, &batch.labels).map_err(to_train_error);
        };
        // Member-major rows -> (B, K, ...), the layout of GOAD's `zs`.
        let d = feats.dim(1)?;
        let z = feats
            .reshape((self.k, b, d))?
            .transpose(0, 1)?
            .contiguous()?;
        if self.track_centers {
            let s = feats.reshape((self.k, b, d))?.sum(1)?.detach();
            self.sum = Some(match self.sum.take() {
                Some(sum) => (sum + s)?,
                None => s,
            });
            self.count += b;
        }
        let logits = logits
            .reshape((self.k, b, self.k))?
            .transpose(0, 1)?
            .contiguous()?;
        match &self.center_loss {
            None => ssad_losses::cross_entropy(&logits.reshape((b * self.k, self.k))?, &{
                // Labels in (B, K) order: member k of every image.
                Tensor::arange(0u32, self.k as u32, &Device::Cpu)?
                    .unsqueeze(0)?
                    .broadcast_as((b, self.k))?
                    .flatten_all()?
            })
            .map_err(to_train_error),
            Some(c) => {
                let loss = ssad_losses::goad_loss(&logits, &z, c.margin, c.lambda)
                    .map_err(to_train_error)?;
                if c.feature_penalty > 0.0 {
                    Ok((loss + (z.sqr()?.mean_all()? * c.feature_penalty)?)?)
                } else {
                    Ok(loss)
                }
            }
        }
    }

    fn on_epoch_end(&mut self, _epoch: usize) -> ssad_train::Result<()> {
        if let Some(sum) = self.sum.take() {
            self.centers = Some((sum / self.count as f64)?);
        }
        self.count = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssad_augment::{expand, Geom};

    /// Random pairs and grouped batches hold exactly the rows of `ssad_augment::expand`.
    #[test]
    fn batches_match_expand() {
        let (n, shape) = (3, [2, 8, 8]);
        let pixels: Vec<f32> = (0..n * 128).map(|v| v as f32).collect();
        let family = Geom::new();
        let x = Tensor::from_slice(&pixels, (n, 2, 8, 8), &Device::Cpu).unwrap();
        let all = expand(&family, &x).unwrap().images;
        let row = |r: usize| {
            all.get(r)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };

        let pairs = ExpandedImages::new(&pixels, shape, &family, false).unwrap();
        assert_eq!(pairs.len(), n * 72);
        let idx = [5usize, 150, 71, 200];
        let b = pairs.batch(&idx, 0).unwrap();
        assert_eq!(b.labels.to_vec1::<u32>().unwrap(), vec![5, 6, 71, 56]);
        for (j, &s) in idx.iter().enumerate() {
            let got = b
                .images
                .get(j)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_eq!(got, row((s % 72) * n + s / 72), "pair {s}");
        }

        let grouped = ExpandedImages::new(&pixels, shape, &family, true).unwrap();
        assert_eq!(grouped.len(), n);
        let b = grouped.batch(&[2, 0], 0).unwrap();
        assert_eq!(b.groups, Some(2));
        for k in [0usize, 13, 71] {
            for (j, i) in [2usize, 0].into_iter().enumerate() {
                let got = b
                    .images
                    .get(k * 2 + j)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                assert_eq!(got, row(k * n + i), "member {k} image {i}");
            }
        }
    }
}
