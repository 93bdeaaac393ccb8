//! Backbones and heads on candle.
//!
//! This crate will hold the networks built from a candle `VarBuilder` with
//! torchvision parameter names: ResNet-18/34/50 (CIFAR and ImageNet stems), Wide
//! ResNets (WRN-10-4 as GEOM and GOAD use), a small ResNet for 28x28 and 32x32
//! inputs, GOAD's tabular network, autoencoders, and the classifier, projection
//! and multi-head heads the methods put on top, with seeded host-side initialisation.
#![warn(missing_docs)]
