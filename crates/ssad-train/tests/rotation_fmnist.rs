//! End to end: two epochs of RotNet-style rotation prediction with the small28
//! ResNet on 256 real Fashion-MNIST images (1024 rotated); the loss must fall.
//! (About 9 s on 2 shared cores with the GEMM convolutions of `ssad_models::ops`.)
//!
//! Finds the data through the `fashion-mnist` manifest (under `SSAD_DATA_DIR`,
//! else the Debian package's folder) and skips when it is absent.

use candle_core::{DType, Device, Tensor};
use ssad_augment::{expand, Rotations};
use ssad_core::Seed;
use ssad_data::formats::read_idx;
use ssad_data::registry::{self, Registry};
use ssad_models::{BackboneConfig, LinearHead, SeededVarMap};
use ssad_train::*;
use std::path::{Path, PathBuf};

const IMAGES: usize = 256;
const PIXELS: usize = 28 * 28;

fn fashion_mnist_train() -> Option<(PathBuf, PathBuf)> {
    let datasets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets");
    let registry = Registry::from_dir(&datasets).ok()?;
    let manifest = registry.get("fashion-mnist").ok()?;
    let root = registry::data_dir_from_env().unwrap_or_default();
    let find = |suffix: &str| {
        let file = manifest.files.iter().find(|f| f.path.ends_with(suffix))?;
        registry::locate(manifest, file, &root).ok()
    };
    Some((
        find("train-images-idx3-ubyte.gz")?,
        find("train-labels-idx1-ubyte.gz")?,
    ))
}

/// Images scaled to [0, 1]; a batch is every image under all four rotations.
struct RotatedImages(Vec<f32>);

impl BatchSource for RotatedImages {
    type Batch = (Tensor, Tensor);
    fn len(&self) -> usize {
        self.0.len() / PIXELS
    }
    fn batch(&self, indices: &[usize], _epoch: u64) -> Result<(Tensor, Tensor)> {
        let mut data = Vec::with_capacity(indices.len() * PIXELS);
        for &i in indices {
            data.extend_from_slice(&self.0[i * PIXELS..(i + 1) * PIXELS]);
        }
        let x = Tensor::from_vec(data, (indices.len(), 1, 28, 28), &Device::Cpu)?;
        let rotated = expand(&Rotations, &x).map_err(Error::external)?;
        Ok((rotated.images, rotated.labels))
    }
}

struct RotNet {
    store: SeededVarMap,
    backbone: Box<dyn ssad_models::Backbone>,
    head: LinearHead,
}

impl Objective for RotNet {
    type Batch = (Tensor, Tensor);
    fn params(&self) -> ParamSet {
        ParamSet::new(self.store.named_trainable_vars()).unwrap()
    }
    fn state(&self) -> ParamSet {
        ParamSet::new(self.store.named_vars()).unwrap()
    }
    fn loss(&mut self, (x, y): &(Tensor, Tensor), ctx: &StepContext) -> Result<Tensor> {
        let features = self
            .backbone
            .forward_features(x, ctx.train)
            .map_err(Error::external)?;
        let logits = self.head.forward(&features).map_err(Error::external)?;
        ssad_losses::cross_entropy(&logits, y).map_err(Error::external)
    }
}

#[test]
fn rotation_prediction_loss_falls_on_fashion_mnist() {
    let Some((images, labels)) = fashion_mnist_train() else {
        println!("skipping: Fashion-MNIST not found (set SSAD_DATA_DIR or apt-get install dataset-fashion-mnist)");
        return;
    };
    let set = read_idx(images, labels).unwrap();
    let pixels: Vec<f32> = set.data()[..IMAGES * PIXELS]
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    let source = RotatedImages(pixels);

    let store = SeededVarMap::new(Seed(17));
    let vb = store.var_builder(DType::F32, &Device::Cpu);
    let backbone = BackboneConfig::Small28.build(vb.pp("backbone")).unwrap();
    let head = LinearHead::new(backbone.embed_dim(), 4, vb.pp("head")).unwrap();
    let mut rotnet = RotNet {
        store,
        backbone,
        head,
    };
    assert!(
        rotnet.state().len() > rotnet.params().len(),
        "BN buffers are in the store"
    );

    let config = TrainConfig {
        epochs: 2,
        batch_size: 24,
        drop_last: true,
        optimizer: OptimizerConfig::Adam(AdamConfig {
            lr: 3e-3,
            betas: (0.9, 0.999),
            ..AdamConfig::default()
        }),
        seed: Seed(1),
        progress: false,
        ..TrainConfig::default()
    };
    let report = Trainer::new(config)
        .unwrap()
        .train(&mut rotnet, &source)
        .unwrap();
    let (first, second) = (report.epochs[0].loss, report.epochs[1].loss);
    println!(
        "rotation loss per epoch: {first:.4} -> {second:.4}; steps {:?}",
        report.step_losses
    );
    assert!(second < first, "loss did not fall: {first} -> {second}");
    assert!(second < 4f64.ln() - 0.05, "still at chance: {second}");
}
