//! Training objectives of self-supervised anomaly detection, on candle tensors.
//!
//! Free functions in the style of `candle_nn::loss`, plus small serde-configured
//! structs whose defaults are the papers' settings:
//!
//! * [`cross_entropy`] / [`cross_entropy_smoothed`] ([`CrossEntropy`]): RotNet, GEOM, GOAD
//!   (f32 on the CPU: one fused op with its own backward pass);
//! * [`center_triplet`] and [`goad_loss`] ([`GoadLoss`]): GOAD;
//! * [`nt_xent`] and [`con_si`] ([`NtXent`]), [`supcon`] ([`SupCon`]):
//!   SimCLR, CSI, SSD;
//! * [`svdd_loss`]: Deep SVDD.
//!
//! Each returns a scalar tensor to call `backward` on; bad shapes, out-of-range
//! targets and invalid hyper-parameters are [`Error`]s. Values and gradients are
//! pinned against PyTorch in `tests/golden.rs`.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use ssad_losses::{cross_entropy, nt_xent};
//!
//! let dev = Device::Cpu;
//! let logits = Tensor::new(&[[2.0f32, 0.0], [0.0, 2.0]], &dev)?;
//! let targets = Tensor::new(&[0u32, 1], &dev)?;
//! let ce = cross_entropy(&logits, &targets)?.to_scalar::<f32>()?;
//! assert!((ce - (1.0 + (-2.0f32).exp()).ln()).abs() < 1e-6);
//!
//! let z = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0]], &dev)?;
//! let loss = nt_xent(&z, &z, 0.5, 1e-8)?.to_scalar::<f32>()?;
//! assert!(loss.is_finite() && loss > 0.0);
//! # Ok::<(), ssad_losses::Error>(())
//! ```
#![warn(missing_docs)]

mod check;
mod contrastive;
mod cross_entropy;
mod error;
mod fused;
mod fused_triplet;
mod svdd;
mod triplet;

pub use contrastive::{con_si, nt_xent, supcon, NtXent, SupCon};
pub use cross_entropy::{cross_entropy, cross_entropy_smoothed, CrossEntropy};
pub use error::{Error, Result};
pub use svdd::svdd_loss;
pub use triplet::{center_triplet, goad_loss, GoadLoss};
