//! Backbones and heads on candle for self-supervised anomaly detection.
//!
//! * [`ResNet`] — ResNet-18/34/50 with CIFAR or ImageNet stem and torchvision
//!   parameter names, and the small 16/32/64-channel ResNets (`small28`, `small32`);
//! * [`WideResNet`] — the pre-activation WRN-depth-k of GEOM and GOAD (WRN-10-4);
//! * [`GoadNet`] — GOAD's tabular network, weights shared across transformations;
//! * [`DenseAutoencoder`], [`ConvAutoencoder`];
//! * heads: [`LinearHead`], [`ProjectionHead`], [`CsiHeads`], [`CutPasteHead`];
//! * [`Backbone`] — the feature-extractor trait, and [`BackboneConfig`] to build one by name;
//! * [`SeededVarMap`] — parameters initialised on the host from `(seed, name)`, so the
//!   same seed gives bit-identical weights; safetensors save and checked load;
//! * [`max_pool2d`] — max pooling with a backward for any kernel/stride (candle lacks it).
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use ssad_core::Seed;
//! use ssad_models::{Backbone, BackboneConfig, SeededVarMap};
//!
//! let vars = SeededVarMap::new(Seed(0));
//! let net = BackboneConfig::Small28.build(vars.var_builder(DType::F32, &Device::Cpu))?;
//! let images = Tensor::zeros((2, 1, 28, 28), DType::F32, &Device::Cpu)?;
//! let features = net.forward_features(&images, false)?;
//! assert_eq!(features.dims(), &[2, net.embed_dim()]);
//! assert_eq!(net.embed_dim(), 64);
//! // Optimisers get the trainable variables only, sorted by name.
//! assert!(vars.trainable_vars().len() < vars.all_vars().len());
//! # Ok::<(), ssad_models::Error>(())
//! ```
//!
//! # CUDA
//! The `cuda` feature forwards to candle's and needs the CUDA toolkit at build
//! time. Without `nvcc`, `cargo check -p ssad-models --features cuda` fails in
//! build scripts: first cudarc's (it runs `nvcc --version`; setting
//! `CUDARC_CUDA_VERSION`, e.g. `12080`, skips that), then candle-kernels' (it
//! compiles its PTX kernels with `nvcc`). [`max_pool2d`] runs its custom op only
//! on the CPU and a composition of candle ops elsewhere.
//!
//! # Initialisation
//! | parameter | initial value |
//! |---|---|
//! | ResNet convolutions | Kaiming normal, fan-out, ReLU gain (torchvision) |
//! | WRN convolutions | He normal, fan-in (GEOM's keras WRN), or fan-out (GOAD) |
//! | GOAD linear layers | Xavier normal, gain √2 (`fcnet.py`) |
//! | other linear layers, biases | PyTorch's default `U(±1/sqrt(fan_in))` |
//! | BatchNorm | weight 1, bias 0, running mean 0, running variance 1 |
//!
//! Networks never check their inputs for NaN or infinity (that would cost a
//! reduction per forward pass); shape, channel and batch-size errors are typed.
#![warn(missing_docs)]

mod autoencoder;
mod backbone;
mod error;
mod goad;
mod heads;
mod init;
mod layers;
pub mod ops;
pub mod pool;
mod resnet;
mod var_store;
mod wide_resnet;

pub use autoencoder::{
    ConvAutoencoder, ConvAutoencoderConfig, DenseAutoencoder, DenseAutoencoderConfig,
};
pub use backbone::{Backbone, BackboneConfig, ResNetPreset};
pub use error::{Error, Result};
pub use goad::{GoadNet, GoadNetConfig};
pub use heads::{
    CsiHeads, CsiHeadsConfig, CutPasteHead, CutPasteHeadConfig, LinearHead, ProjectionHead,
    ProjectionHeadConfig,
};
pub use pool::max_pool2d;
pub use resnet::{BlockKind, ResNet, ResNetConfig, Stem};
pub use var_store::{is_buffer_name, ExtraTensors, SeededVarMap};
pub use wide_resnet::{WideResNet, WideResNetConfig, WrnInit};
