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
//! The `cuda` feature forwards to candle's. Building it needs the CUDA toolkit
//! (`nvcc`) because candle compiles its kernels at build time; on a machine
//! without it, `cargo check -p ssad-models --features cuda` fails in the
//! `candle-kernels` build script. [`max_pool2d`] runs its custom op only on the
//! CPU and uses a composition of candle ops elsewhere.
#![warn(missing_docs)]

mod autoencoder;
mod backbone;
mod error;
mod goad;
mod heads;
mod init;
mod layers;
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
