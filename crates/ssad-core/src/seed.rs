//! Seeds and independent random streams derived from them.
//!
//! candle's CPU RNG cannot be seeded, and a shared RNG makes results depend on
//! thread scheduling. Every random choice in ssad therefore draws from a
//! `ChaCha8Rng` keyed by `(seed, stream, epoch, index)`: a sample's
//! augmentation is the same whichever thread draws it and whatever else ran before.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The one number from which a run's randomness flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seed(pub u64);

/// What a random stream is used for; streams of different purposes never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stream {
    /// Weight initialisation and fixed transformation families.
    Init,
    /// Order of samples in an epoch.
    Shuffle,
    /// Per-sample stochastic augmentations.
    Augment,
    /// Sub-sampling (train/test splits, bootstrap, tree bags).
    Subsample,
    /// Anything else, distinguished by a caller-chosen tag.
    Other(u32),
}

impl Stream {
    fn tag(self) -> u64 {
        match self {
            Stream::Init => 1,
            Stream::Shuffle => 2,
            Stream::Augment => 3,
            Stream::Subsample => 4,
            Stream::Other(t) => 0x1_0000_0000 | u64::from(t),
        }
    }
}

/// SplitMix64's finaliser: a bijective mix with full avalanche.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Seed {
    /// An RNG for `(stream, epoch, index)`; the same arguments always give the same stream.
    pub fn rng(self, stream: Stream, epoch: u64, index: u64) -> ChaCha8Rng {
        let mut key = [0u8; 32];
        let words = [
            splitmix64(self.0),
            splitmix64(stream.tag() ^ splitmix64(self.0 ^ 0xA5A5_A5A5)),
            splitmix64(epoch),
            splitmix64(index ^ 0x5DEE_CE66_D1CE_4E5B),
        ];
        for (chunk, w) in key.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        ChaCha8Rng::from_seed(key)
    }

    /// A derived seed, for handing a sub-component its own seed (e.g. one per ensemble member).
    pub fn derive(self, tag: u64) -> Seed {
        Seed(splitmix64(self.0 ^ splitmix64(tag)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn golden_first_draw() {
        // Pins the derivation: changing it silently would change every result.
        let v: u64 = Seed(0).rng(Stream::Init, 0, 0).random();
        let again: u64 = Seed(0).rng(Stream::Init, 0, 0).random();
        assert_eq!(v, again);
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn streams_epochs_and_indices_differ() {
        let draw = |s: Stream, e, i| -> u64 { Seed(1).rng(s, e, i).random() };
        let base = draw(Stream::Augment, 0, 0);
        assert_ne!(base, draw(Stream::Shuffle, 0, 0));
        assert_ne!(base, draw(Stream::Augment, 1, 0));
        assert_ne!(base, draw(Stream::Augment, 0, 1));
        assert_ne!(base, draw(Stream::Other(3), 0, 0));
        let other: u64 = Seed(2).rng(Stream::Augment, 0, 0).random();
        assert_ne!(base, other);
    }
}
