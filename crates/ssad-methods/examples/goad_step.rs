//! Times the pieces of one GOAD training step (Thyroid sizes by default).
use candle_core::{DType, Device, Tensor, D};
use ssad_core::Seed;
use ssad_models::{GoadNet, GoadNetConfig, SeededVarMap};
use std::time::Instant;

fn t<T>(label: &str, f: impl Fn() -> T) -> T {
    let start = Instant::now();
    let mut out = f();
    for _ in 0..4 {
        out = f();
    }
    println!(
        "{label}: {:.2} ms",
        start.elapsed().as_secs_f64() * 1e3 / 5.0
    );
    out
}

fn main() -> candle_core::Result<()> {
    let (b, m, r, ndf) = (64, 256, 32, 8);
    let vars = SeededVarMap::new(Seed(0));
    let cfg = GoadNetConfig {
        input_dim: r,
        ndf,
        num_transforms: m,
        trunk_layers: 1,
    };
    let net = GoadNet::new(&cfg, vars.var_builder(DType::F32, &Device::Cpu)).unwrap();
    let x = Tensor::randn(0f32, 1., (b, m, r), &Device::Cpu)?;
    let (feats, logits) = t("forward", || net.forward(&x).unwrap());
    let labels = Tensor::arange(0u32, m as u32, &Device::Cpu)?
        .unsqueeze(0)?
        .broadcast_as((b, m))?
        .flatten_all()?;
    let ce = t("ce", || {
        ssad_losses::cross_entropy(&logits.reshape((b * m, m)).unwrap(), &labels).unwrap()
    });
    t("ce backward", || ce.backward().unwrap());
    let offset = Tensor::eye(m, DType::F32, &Device::Cpu)?;
    let tc = t("triplet", || {
        let z = &feats;
        let c = z.mean(0).unwrap();
        let own = z
            .broadcast_sub(&c.unsqueeze(0).unwrap())
            .unwrap()
            .sqr()
            .unwrap()
            .sum(D::Minus1)
            .unwrap();
        let cross = z
            .reshape((b * m, ndf))
            .unwrap()
            .matmul(&c.t().unwrap())
            .unwrap()
            .reshape((b, m, m))
            .unwrap();
        let d = cross
            .broadcast_add(&offset.unsqueeze(0).unwrap())
            .unwrap()
            .min(D::Minus1)
            .unwrap();
        (own - d).unwrap().relu().unwrap().mean_all().unwrap()
    });
    t("triplet backward", || tc.backward().unwrap());
    let loss = (ce + tc)?;
    t("total backward", || loss.backward().unwrap());
    Ok(())
}
