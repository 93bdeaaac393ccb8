//! Seeded epoch order and the data side of the training loop.

use crate::{Error, Result};
use rand::seq::SliceRandom;
use ssad_core::{Seed, Stream};

/// Where training batches come from.
///
/// The trainer decides which sample indices form a batch; the source turns them
/// into whatever the [`crate::Objective`] consumes (image tensors, views, labels).
/// Building runs on a helper thread while the previous batch trains, so it
/// must not depend on shared mutable state: per-sample randomness should come
/// from `seed.rng(Stream::Augment, epoch, index)`, which makes a batch the same
/// whichever thread builds it.
pub trait BatchSource: Sync {
    /// The batch type handed to the objective.
    type Batch: Send;

    /// Number of samples.
    fn len(&self) -> usize;

    /// Whether the source has no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Builds the batch of the samples `indices` (all `< len()`) for `epoch`.
    fn batch(&self, indices: &[usize], epoch: u64) -> Result<Self::Batch>;
}

/// The batches of one epoch: a permutation of `0..len` drawn from
/// `seed.rng(Stream::Shuffle, epoch, 0)`, cut into chunks of `batch_size`;
/// with `drop_last` an incomplete final chunk is dropped.
pub fn epoch_batches(
    len: usize,
    batch_size: usize,
    drop_last: bool,
    seed: Seed,
    epoch: u64,
) -> Result<Vec<Vec<usize>>> {
    let too_few = len == 0 || batch_size == 0 || (drop_last && len < batch_size);
    if too_few {
        return Err(Error::NoBatches {
            samples: len,
            batch_size,
            drop_last,
        });
    }
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut seed.rng(Stream::Shuffle, epoch, 0));
    let mut batches: Vec<Vec<usize>> = order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    if drop_last && len % batch_size != 0 {
        batches.pop();
    }
    Ok(batches)
}
