//! The explicit list of methods. Adding one: a folder `src/<method>/` with its
//! `mod.rs`, `config.rs` and `README.md`, its config implementing `MethodConfig`
//! (how the registry builds and checks it), and one entry in [`REGISTRY`].

use std::path::Path;

use crate::detector::{Detector, Method};
use crate::error::{Error, Result};
use crate::transform_classifier::{
    self as tc, GeomMethod, GoadImagesMethod, RotNetMethod, Variant,
};
use crate::{autoencoder, classic, csi, cutpaste, deep_svdd, frozen, goad, persist, simclr, ssd};

/// One registered method.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The name used in configs, specs and model folders.
    pub name: &'static str,
    /// The paper it reproduces.
    pub paper: &'static str,
    /// One line on what it does.
    pub description: &'static str,
    /// The method with its paper's default settings.
    pub default: fn() -> Box<dyn Method>,
    /// The method from a JSON config (missing fields take their defaults).
    pub from_json: fn(serde_json::Value) -> Result<Box<dyn Method>>,
    /// Loads a detector this method saved.
    pub load: fn(&Path) -> Result<Box<dyn Detector>>,
}

/// Every method, in the order result tables list them.
pub static REGISTRY: &[Entry] = &[
    Entry {
        name: goad::NAME,
        paper: "Bergman & Hoshen, Classification-Based Anomaly Detection for General Data, ICLR 2020",
        description: "GOAD for tabular data: random affine maps, transformation classifier with center triplet loss, center-distance score",
        default: default_config::<goad::GoadConfig>,
        from_json: config_from_json::<goad::GoadConfig>,
        load: goad::load,
    },
    Entry {
        name: simclr::NAME,
        paper: "Chen, Kornblith, Norouzi & Hinton, A Simple Framework for Contrastive Learning of Visual Representations, ICML 2020 (as CSI's one-class baseline)",
        description: "SimCLR pre-training (two augmented views, NT-Xent), 1-NN cosine distance on the encoder features",
        default: default_config::<simclr::SimclrConfig>,
        from_json: config_from_json::<simclr::SimclrConfig>,
        load: simclr::load,
    },
    Entry {
        name: ssd::NAME,
        paper: "Sehwag, Chiang & Mittal, SSD: A Unified Framework for Self-Supervised Outlier Detection, ICLR 2021",
        description: "SimCLR encoder trained with SSD's settings; Mahalanobis distance of normalised features to k-means clusters",
        default: default_config::<ssd::SsdConfig>,
        from_json: config_from_json::<ssd::SsdConfig>,
        load: ssd::load,
    },
    Entry {
        name: csi::NAME,
        paper: "Tack, Mo, Jeong & Shin, CSI: Novelty Detection via Contrastive Learning on Distributionally Shifted Instances, NeurIPS 2020",
        description: "con-SI with the 4 rotations as negatives plus a shift classifier; similarity-times-norm and shift-logit score over test-time views",
        default: default_config::<csi::CsiConfig>,
        from_json: config_from_json::<csi::CsiConfig>,
        load: csi::load,
    },
    Entry {
        name: RotNetMethod::NAME,
        paper: "Gidaris et al., Unsupervised Representation Learning by Predicting Image Rotations, ICLR 2018; as a one-class detector in Golan & El-Yaniv 2018 and Hendrycks et al. 2019",
        description: "classifier of the 4 rotations (WRN-10-4 by default); score = -mean correct-class softmax, or the Dirichlet score",
        default: default_config::<tc::TransformClassifierConfig<RotNetMethod>>,
        from_json: config_from_json::<tc::TransformClassifierConfig<RotNetMethod>>,
        load: tc::load::<RotNetMethod>,
    },
    Entry {
        name: GeomMethod::NAME,
        paper: "Golan & El-Yaniv, Deep Anomaly Detection Using Geometric Transformations, NeurIPS 2018",
        description: "WRN-10-4 classifier of 72 flip/translation/rotation transforms; Dirichlet normality score",
        default: default_config::<tc::TransformClassifierConfig<GeomMethod>>,
        from_json: config_from_json::<tc::TransformClassifierConfig<GeomMethod>>,
        load: tc::load::<GeomMethod>,
    },
    Entry {
        name: GoadImagesMethod::NAME,
        paper: "Bergman & Hoshen, Classification-Based Anomaly Detection for General Data, ICLR 2020 (images)",
        description: "GEOM's 72 transforms, WRN-10-4, CE + center triplet loss; score from the distances to the per-transformation feature centers",
        default: default_config::<tc::TransformClassifierConfig<GoadImagesMethod>>,
        from_json: config_from_json::<tc::TransformClassifierConfig<GoadImagesMethod>>,
        load: tc::load::<GoadImagesMethod>,
    },
    Entry {
        name: cutpaste::NAME,
        paper: "Li, Sohn, Yoon & Pfister, CutPaste: Self-Supervised Learning for Anomaly Detection and Localization, CVPR 2021",
        description: "CutPaste for images: classify normal vs cut-and-pasted (or scar) views, GDE on the encoder features; patch model for pixel maps",
        default: default_config::<cutpaste::CutPasteConfig>,
        from_json: config_from_json::<cutpaste::CutPasteConfig>,
        load: cutpaste::load,
    },
    Entry {
        name: classic::NAME,
        paper: "PyOD (Zhao et al., JMLR 2019) detectors: kNN, LOF, IForest, OC-SVM, PCA, KDE, ECOD, COPOD, HBOS, ...",
        description: "a classic detector of ssad-scorers fitted on the raw features",
        default: default_config::<classic::ClassicConfig>,
        from_json: config_from_json::<classic::ClassicConfig>,
        load: classic::load,
    },
    Entry {
        name: frozen::NAME,
        paper: "Frozen-feature baseline (Bergman, Cohen & Hoshen, Deep Nearest Neighbor Anomaly Detection, 2020): untrained or pre-trained backbone + classic scorer",
        description: "a fixed ssad-models backbone (seeded, or weights from a safetensors file) embeds images; a scorer of ssad-scorers is fitted on the embeddings",
        default: default_config::<frozen::FrozenConfig>,
        from_json: config_from_json::<frozen::FrozenConfig>,
        load: frozen::load,
    },
    Entry {
        name: autoencoder::NAME,
        paper: "Autoencoder reconstruction error, as PyOD's AutoEncoder (Zhao et al., JMLR 2019)",
        description: "dense (tabular) or convolutional (images) autoencoder trained with MSE; score = |x - AE(x)|",
        default: default_config::<autoencoder::AutoencoderConfig>,
        from_json: config_from_json::<autoencoder::AutoencoderConfig>,
        load: autoencoder::load,
    },
    Entry {
        name: deep_svdd::NAME,
        paper: "Ruff et al., Deep One-Class Classification, ICML 2018",
        description: "one-class Deep SVDD: bias-free LeNet/MLP pulled to a fixed center (optional autoencoder pretraining); score = |phi(x) - c|^2",
        default: default_config::<deep_svdd::DeepSvddConfig>,
        from_json: config_from_json::<deep_svdd::DeepSvddConfig>,
        load: deep_svdd::load,
    },
];

/// A method's config as the registry builds it: from JSON (missing fields take
/// the paper's defaults) and checked before anything is fitted.
pub(crate) trait MethodConfig:
    Method + serde::de::DeserializeOwned + Default + 'static
{
    /// Rejects settings that cannot be fitted (a typed error naming the field).
    fn check(&self) -> Result<()> {
        Ok(())
    }
}

fn config_from_json<C: MethodConfig>(value: serde_json::Value) -> Result<Box<dyn Method>> {
    let config: C = persist::parse(value, None)?;
    config.check()?;
    Ok(Box::new(config))
}

fn default_config<C: MethodConfig>() -> Box<dyn Method> {
    Box::new(C::default())
}

/// The registry entry called `name`.
pub fn entry(name: &str) -> Result<&'static Entry> {
    REGISTRY
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| Error::UnknownMethod {
            name: name.to_string(),
            known: REGISTRY
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The method `name` configured from `config` (`None`: its defaults).
pub fn method(name: &str, config: Option<serde_json::Value>) -> Result<Box<dyn Method>> {
    let entry = entry(name)?;
    match config {
        Some(value) => (entry.from_json)(value),
        None => Ok((entry.default)()),
    }
}

/// Loads any saved detector, dispatching on the method its folder records.
pub fn load(dir: &Path) -> Result<Box<dyn Detector>> {
    let header = persist::read_header(dir)?;
    (entry(&header.method)?.load)(dir)
}
