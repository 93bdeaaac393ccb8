//! `cargo xtask gallery --out DIR`: PNG grids of every transformation and
//! augmentation of `ssad-augment`, on real Fashion-MNIST and MVTec bottle images.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use clap::Args;
use ssad_augment::{
    expand, Augment, CutPasteConfig, CutPasteTask, CutPasteViews, CutPerm, Geom, RotTrans,
    Rotations, ScarConfig, SimClr, TransformFamily,
};
use ssad_core::Seed;
use ssad_data::formats::{load_image_chw, read_idx, MvtecCategory};
use ssad_data::registry::{data_dir_from_env, locate, Registry};

/// Where to write the gallery.
#[derive(Args)]
pub struct GalleryArgs {
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Seed of the stochastic views.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Images of one grid cell size, `(C, H, W)` in `[0, 1]`, laid out row by row.
struct Grid {
    rows: usize,
    cols: usize,
    channels: usize,
    side: (usize, usize),
    cells: Vec<Vec<f32>>,
}

impl Grid {
    fn new(cols: usize, channels: usize, side: (usize, usize)) -> Self {
        Self {
            rows: 0,
            cols,
            channels,
            side,
            cells: Vec::new(),
        }
    }

    /// Appends the images of a `(N, C, H, W)` tensor, row-major in the grid.
    fn push(&mut self, x: &Tensor) -> Result<()> {
        let n = x.dim(0)?;
        let data = x.flatten_all()?.to_vec1::<f32>()?;
        let len = data.len() / n.max(1);
        self.cells.extend(data.chunks(len).map(<[f32]>::to_vec));
        self.rows = self.cells.len().div_ceil(self.cols);
        Ok(())
    }

    /// Writes the grid as an RGB PNG, each pixel drawn `zoom x zoom`, 2 px gaps.
    fn save(&self, path: &Path, zoom: usize) -> Result<()> {
        let (h, w) = (self.side.0 * zoom, self.side.1 * zoom);
        let gap = 2;
        let width = self.cols * (w + gap) + gap;
        let height = self.rows * (h + gap) + gap;
        let mut canvas =
            image::RgbImage::from_pixel(width as u32, height as u32, image::Rgb([255, 255, 255]));
        let plane = self.side.0 * self.side.1;
        for (idx, cell) in self.cells.iter().enumerate() {
            let (r, c) = (idx / self.cols, idx % self.cols);
            let (y0, x0) = (gap + r * (h + gap), gap + c * (w + gap));
            for y in 0..h {
                for x in 0..w {
                    let p = (y / zoom) * self.side.1 + x / zoom;
                    let channel = |ch: usize| {
                        let v = cell[ch.min(self.channels - 1) * plane + p];
                        (v.clamp(0.0, 1.0) * 255.0).round() as u8
                    };
                    canvas.put_pixel(
                        (x0 + x) as u32,
                        (y0 + y) as u32,
                        image::Rgb([channel(0), channel(1), channel(2)]),
                    );
                }
            }
        }
        canvas
            .save(path)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
        Ok(())
    }
}

fn data_root() -> PathBuf {
    data_dir_from_env().unwrap_or_else(|| {
        crate::project_root()
            .join("..")
            .join("shared")
            .join("datasets")
    })
}

/// One Fashion-MNIST test image of each of the first `n` classes, `(n, 1, 28, 28)`.
fn fashion_mnist(n: usize) -> Result<Tensor> {
    let registry = Registry::from_dir(&crate::project_root().join("datasets"))?;
    let manifest = registry.get("fashion-mnist")?;
    let find = |name: &str| -> Result<PathBuf> {
        let file = manifest
            .files
            .iter()
            .find(|f| f.file_name().starts_with(name))
            .with_context(|| format!("no {name} in the fashion-mnist manifest"))?;
        Ok(locate(manifest, file, &data_root())?)
    };
    let set = read_idx(find("t10k-images")?, find("t10k-labels")?)?;
    let mut picked = Vec::new();
    for class in 0..n as u8 {
        let i = set
            .labels()
            .iter()
            .position(|&l| l == class)
            .context("class missing")?;
        picked.push(i);
    }
    let set = set.select(&picked)?;
    Ok(Tensor::from_vec(
        set.to_f32(),
        (n, 1, set.height(), set.width()),
        &Device::Cpu,
    )?)
}

/// The first `n` MVTec bottle training images, `(n, 3, H, W)`.
fn mvtec_bottle(n: usize) -> Result<Tensor> {
    let category = MvtecCategory::open(data_root().join("mvtec_ad_256").join("bottle"))?;
    if category.train.len() < n {
        bail!(
            "MVTec bottle has only {} training images",
            category.train.len()
        );
    }
    let mut data = Vec::new();
    let mut side = (0, 0);
    for sample in &category.train[..n] {
        let img = load_image_chw(&sample.image)?;
        side = (img.height, img.width);
        data.extend(img.data);
    }
    Ok(Tensor::from_vec(
        data,
        (n, 3, side.0, side.1),
        &Device::Cpu,
    )?)
}

/// Every member of `family` applied to each image: one image per grid row when
/// the family is small, else one image per block of rows.
fn family_grid(family: &dyn TransformFamily, x: &Tensor, cols: usize) -> Result<Grid> {
    let (n, c, h, w) = x.dims4()?;
    let all = expand(family, x)?;
    let mut grid = Grid::new(cols, c, (h, w));
    for i in 0..n {
        for k in 0..family.len() {
            grid.push(&all.images.narrow(0, k * n + i, 1)?)?;
        }
    }
    Ok(grid)
}

/// The original in column 0, then `views` independent draws of `aug`.
fn view_grid(aug: &dyn Augment, x: &Tensor, seed: Seed, views: usize) -> Result<Grid> {
    let (n, c, h, w) = x.dims4()?;
    let indices: Vec<u64> = (0..n as u64).collect();
    let drawn = (0..views)
        .map(|v| aug.apply_batch(x, seed.derive(v as u64), 0, &indices))
        .collect::<ssad_augment::Result<Vec<_>>>()?;
    let mut grid = Grid::new(views + 1, c, (h, w));
    for i in 0..n {
        grid.push(&x.narrow(0, i, 1)?)?;
        for d in &drawn {
            grid.push(&d.narrow(0, i, 1)?)?;
        }
    }
    Ok(grid)
}

/// Writes the gallery.
pub fn run(args: GalleryArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let seed = Seed(args.seed);
    let out = |name: &str| args.out.join(name);

    let fm =
        fashion_mnist(8).context("Fashion-MNIST (apt-get install -y dataset-fashion-mnist)")?;
    family_grid(&Rotations, &fm, 4)?.save(&out("fmnist_rotations.png"), 3)?;
    family_grid(&CutPerm, &fm, 4)?.save(&out("fmnist_cutperm.png"), 3)?;
    family_grid(&Geom::new(), &fm.narrow(0, 0, 2)?, 12)?.save(&out("fmnist_geom72.png"), 3)?;
    family_grid(&RotTrans::new(), &fm.narrow(0, 1, 1)?, 12)?
        .save(&out("fmnist_rot_trans36.png"), 3)?;
    view_grid(&SimClr::default(), &fm, seed, 7)?.save(&out("fmnist_simclr.png"), 3)?;

    let bottle = mvtec_bottle(5).context("MVTec bottle (set SSAD_DATA_DIR)")?;
    let views = CutPasteViews::new(
        CutPasteTask::ThreeWay,
        CutPasteConfig::default(),
        ScarConfig::default(),
    )?;
    let (three, _) = views.views(&bottle, seed, 0, &[0, 1, 2, 3, 4])?;
    let union = CutPasteViews::new(
        CutPasteTask::Union,
        CutPasteConfig::default(),
        ScarConfig::default(),
    )?;
    let (two, _) = union.views(&bottle, seed.derive(99), 0, &[0, 1, 2, 3, 4])?;
    // Columns: original, CutPaste, Scar, union (either).
    let mut grid = Grid::new(4, 3, (bottle.dim(2)?, bottle.dim(3)?));
    for i in 0..5 {
        grid.push(&three.narrow(0, i, 1)?)?;
        grid.push(&three.narrow(0, 5 + i, 1)?)?;
        grid.push(&three.narrow(0, 10 + i, 1)?)?;
        grid.push(&two.narrow(0, 5 + i, 1)?)?;
    }
    grid.save(&out("mvtec_bottle_cutpaste.png"), 1)?;
    let small = bottle.narrow(0, 0, 3)?;
    view_grid(&SimClr::default(), &small, seed, 4)?.save(&out("mvtec_bottle_simclr.png"), 1)?;
    view_grid(&SimClr::csi_test_time(), &small, seed, 4)?
        .save(&out("mvtec_bottle_csi_test_time.png"), 1)?;
    Ok(())
}
