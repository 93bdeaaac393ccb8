//! MVTec AD folder layout: `<category>/train/good/*.png`,
//! `<category>/test/<defect>/*.png` and `<category>/ground_truth/<defect>/NNN_mask.png`.
//!
//! Listing is sorted by defect type then file name, so sample order never
//! depends on the file system. Images decode (with the `image` crate) to RGB
//! `f32` CHW in `[0, 1]`: gray categories (grid, screw, zipper) are replicated to
//! three channels, as the reference implementations' `PIL.Image.convert("RGB")`
//! does. Masks decode to `H×W` with 1.0 where the 8-bit value is non-zero.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The folder name of defect-free images.
pub const GOOD: &str = "good";

/// One image of an MVTec category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MvtecSample {
    /// The image file.
    pub image: PathBuf,
    /// The defect type (its folder name); [`GOOD`] for defect-free images.
    pub defect: String,
    /// The ground-truth mask of a defective test image, when the dataset has one.
    pub mask: Option<PathBuf>,
}

impl MvtecSample {
    /// `true` for defective images (the anomalies).
    pub fn is_anomaly(&self) -> bool {
        self.defect != GOOD
    }
}

/// The listed train and test images of one MVTec AD category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MvtecCategory {
    /// The category folder.
    pub root: PathBuf,
    /// Defect-free training images.
    pub train: Vec<MvtecSample>,
    /// Test images: good ones and every defect type.
    pub test: Vec<MvtecSample>,
}

impl MvtecCategory {
    /// Lists the category at `root` (e.g. `.../mvtec_ad_256/bottle`).
    ///
    /// A defective test image without a mask file is an error (the pixel-level
    /// metrics would silently treat it as all-normal otherwise).
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let train = pngs(&root.join("train").join(GOOD))?
            .into_iter()
            .map(|image| MvtecSample {
                image,
                defect: GOOD.to_owned(),
                mask: None,
            })
            .collect();
        let mut test = Vec::new();
        for defect_dir in sorted_dirs(&root.join("test"))? {
            let defect = defect_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            for image in pngs(&defect_dir)? {
                let mask = if defect == GOOD {
                    None
                } else {
                    let stem = image
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let mask = root
                        .join("ground_truth")
                        .join(&defect)
                        .join(format!("{stem}_mask.png"));
                    if !mask.is_file() {
                        return Err(Error::format(
                            &image,
                            format!("defective test image has no mask at {}", mask.display()),
                        ));
                    }
                    Some(mask)
                };
                test.push(MvtecSample {
                    image,
                    defect: defect.clone(),
                    mask,
                });
            }
        }
        Ok(Self { root, train, test })
    }

    /// Per test image, `true` for the anomalies.
    pub fn test_labels(&self) -> Vec<bool> {
        self.test.iter().map(MvtecSample::is_anomaly).collect()
    }
}

/// A decoded image or mask: `channels × height × width` `f32` values.
#[derive(Debug, Clone, PartialEq)]
pub struct Chw {
    /// Number of channels (3 for images, 1 for masks).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// Values, channel-major then row-major.
    pub data: Vec<f32>,
}

/// Decodes an image file to RGB `f32` CHW in `[0, 1]`.
pub fn load_image_chw(path: impl AsRef<Path>) -> Result<Chw> {
    let path = path.as_ref();
    let rgb = decode(path)?.into_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let mut data = vec![0.0f32; 3 * h * w];
    let plane = h * w;
    for (i, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            data[c * plane + i] = f32::from(px.0[c]) / 255.0;
        }
    }
    Ok(Chw {
        channels: 3,
        height: h,
        width: w,
        data,
    })
}

/// Decodes a mask to `1 × H × W` with 1.0 where the mask is non-zero; `None` gives an
/// all-zero mask of `height × width` (a good image).
pub fn load_mask(path: Option<&Path>, height: usize, width: usize) -> Result<Chw> {
    let Some(path) = path else {
        return Ok(Chw {
            channels: 1,
            height,
            width,
            data: vec![0.0; height * width],
        });
    };
    let gray = decode(path)?.into_luma8();
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    if (h, w) != (height, width) {
        return Err(Error::format(
            path,
            format!("mask is {h}x{w}, its image is {height}x{width}"),
        ));
    }
    Ok(Chw {
        channels: 1,
        height,
        width,
        data: gray
            .pixels()
            .map(|p| f32::from(u8::from(p.0[0] != 0)))
            .collect(),
    })
}

fn decode(path: &Path) -> Result<image::DynamicImage> {
    let reader = image::ImageReader::open(path).map_err(|e| Error::io(path, e))?;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    reader.decode().map_err(|e| match e {
        image::ImageError::IoError(source) => Error::io(path, source),
        other => Error::format(path, format!("cannot decode image: {other}")),
    })
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(dir, err)))
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    Ok(out)
}

fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect())
}

fn pngs(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect())
}
