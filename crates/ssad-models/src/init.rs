//! Host-side sampling of initial parameter values from `(seed, parameter name)`.
//!
//! candle's CPU RNG cannot be seeded, so every value is drawn here from a
//! `ChaCha8Rng` keyed by the seed and a hash of the parameter's full path. A
//! parameter's value therefore depends on nothing else: not on the order in
//! which layers are built, not on the thread count, not on other parameters.

use candle_nn::init::{FanInOut, NormalOrUniform};
use candle_nn::Init;
use rand::Rng;
use rand_distr::StandardNormal;
use ssad_core::{Seed, Stream};

/// FNV-1a: a stable, documented hash (std's `DefaultHasher` may change between releases).
pub(crate) fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Draws `numel` values for the parameter `name` of shape `dims` following `init`.
pub(crate) fn sample(seed: Seed, name: &str, dims: &[usize], init: Init) -> Vec<f32> {
    let numel: usize = dims.iter().product();
    let mut rng = seed.rng(Stream::Init, 0, name_hash(name));
    let mut normal = |mean: f64, std: f64| -> Vec<f32> {
        (0..numel)
            .map(|_| {
                let z: f64 = rng.sample(StandardNormal);
                (mean + std * z) as f32
            })
            .collect()
    };
    match init {
        Init::Const(v) => vec![v as f32; numel],
        Init::Randn { mean, stdev } => normal(mean, stdev),
        Init::Uniform { lo, up } => uniform(seed, name, numel, lo, up),
        Init::Kaiming {
            dist,
            fan,
            non_linearity,
        } => {
            let fan = fan_of(fan, dims) as f64;
            let std = non_linearity.gain() / fan.max(1.0).sqrt();
            match dist {
                NormalOrUniform::Normal => normal(0.0, std),
                NormalOrUniform::Uniform => {
                    let bound = 3f64.sqrt() * std;
                    uniform(seed, name, numel, -bound, bound)
                }
            }
        }
    }
}

fn uniform(seed: Seed, name: &str, numel: usize, lo: f64, up: f64) -> Vec<f32> {
    let mut rng = seed.rng(Stream::Init, 0, name_hash(name));
    (0..numel)
        .map(|_| {
            let u: f64 = rng.random();
            (lo + (up - lo) * u) as f32
        })
        .collect()
}

/// PyTorch's fan computation (`torch.nn.init._calculate_fan_in_and_fan_out`).
fn fan_of(fan: FanInOut, dims: &[usize]) -> usize {
    let receptive: usize = dims.iter().skip(2).product();
    match fan {
        FanInOut::FanIn => dims.get(1).map_or(1, |d| d * receptive),
        FanInOut::FanOut => dims.first().map_or(1, |d| d * receptive),
    }
}

/// Kaiming/He normal with fan-out and ReLU gain: torchvision ResNet convolutions.
pub(crate) const KAIMING_FAN_OUT: Init = Init::Kaiming {
    dist: NormalOrUniform::Normal,
    fan: FanInOut::FanOut,
    non_linearity: candle_nn::init::NonLinearity::ReLU,
};

/// He normal with fan-in (`sqrt(2 / fan_in)`): the keras WRN of GEOM.
pub(crate) const HE_NORMAL_FAN_IN: Init = Init::Kaiming {
    dist: NormalOrUniform::Normal,
    fan: FanInOut::FanIn,
    non_linearity: candle_nn::init::NonLinearity::ReLU,
};

/// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`: PyTorch's default for linear weights and biases.
pub(crate) fn torch_default_uniform(fan_in: usize) -> Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// Xavier/Glorot normal: `gain * sqrt(2 / (fan_in + fan_out))`.
pub(crate) fn xavier_normal(fan_in: usize, fan_out: usize, gain: f64) -> Init {
    Init::Randn {
        mean: 0.0,
        stdev: gain * (2.0 / (fan_in + fan_out).max(1) as f64).sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_known_values() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(name_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(name_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn kaiming_fan_out_has_the_right_spread() {
        let dims = [64, 32, 3, 3];
        let v = sample(Seed(3), "w", &dims, KAIMING_FAN_OUT);
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        let want = 2.0 / (64.0 * 9.0);
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var / want - 1.0).abs() < 0.05, "var {var} want {want}");
    }

    #[test]
    fn uniform_stays_in_bounds() {
        let v = sample(Seed(1), "b", &[1000], torch_default_uniform(16));
        assert!(v.iter().all(|&x| (-0.25..0.25).contains(&x)));
        assert!(v.iter().any(|&x| x < -0.2) && v.iter().any(|&x| x > 0.2));
    }

    #[test]
    fn names_give_independent_streams() {
        let a = sample(
            Seed(1),
            "a.weight",
            &[8],
            Init::Randn {
                mean: 0.,
                stdev: 1.,
            },
        );
        let b = sample(
            Seed(1),
            "b.weight",
            &[8],
            Init::Randn {
                mean: 0.,
                stdev: 1.,
            },
        );
        let a2 = sample(
            Seed(1),
            "a.weight",
            &[8],
            Init::Randn {
                mean: 0.,
                stdev: 1.,
            },
        );
        assert_ne!(a, b);
        assert_eq!(a, a2);
    }
}
