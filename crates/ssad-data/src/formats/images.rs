//! 8-bit image sets: IDX files (MNIST, Fashion-MNIST) and CIFAR-10 binary batches.
//!
//! IDX (LeCun's format): a big-endian header `0, 0, type, ndims`, then `ndims`
//! big-endian `u32` sizes, then the data; images are magic 2051 (`u8`, N×H×W),
//! labels magic 2049 (`u8`, N). Files may be gzip-compressed (detected from the
//! first bytes). CIFAR-10 batches are 10 000 records of one label byte and 3072
//! pixel bytes (1024 red, 1024 green, 1024 blue, each row-major 32×32).

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::read_file;
use crate::error::{Error, Result};

const IDX_IMAGES: u32 = 2051;
const IDX_LABELS: u32 = 2049;
const CIFAR_SIDE: usize = 32;
const CIFAR_RECORD: usize = 1 + 3 * CIFAR_SIDE * CIFAR_SIDE;

/// `n` images of `channels × height × width` bytes (CHW, image after image) with one label each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    channels: usize,
    height: usize,
    width: usize,
    data: Vec<u8>,
    labels: Vec<u8>,
}

impl ImageSet {
    /// Wraps pixel bytes (N×C×H×W) and labels, checking the sizes agree.
    pub fn new(
        channels: usize,
        height: usize,
        width: usize,
        data: Vec<u8>,
        labels: Vec<u8>,
    ) -> Result<Self> {
        let per = channels
            .checked_mul(height)
            .and_then(|p| p.checked_mul(width))
            .unwrap_or(0);
        if per == 0 || labels.len().checked_mul(per) != Some(data.len()) {
            return Err(Error::Protocol(format!(
                "{} pixel bytes do not make {} images of {channels}x{height}x{width}",
                data.len(),
                labels.len()
            )));
        }
        Ok(Self {
            channels,
            height,
            width,
            data,
            labels,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Channels per image.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Bytes per image (`channels * height * width`).
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// All pixels, N×C×H×W.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The class label of every image.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The pixels of image `i` (C×H×W), or `None` if out of range.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let n = self.image_len();
        let start = i.checked_mul(n)?;
        self.data.get(start..start.checked_add(n)?)
    }

    /// All pixels scaled to `[0, 1]` as `f32`, N×C×H×W.
    pub fn to_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&p| f32::from(p) / 255.0).collect()
    }

    /// The listed images, in order; an out-of-range index is an error.
    pub fn select(&self, indices: &[usize]) -> Result<ImageSet> {
        let n = self.image_len();
        let mut data = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let image = self.image(i).ok_or_else(|| {
                Error::Protocol(format!("image index {i} out of range for {}", self.len()))
            })?;
            data.extend_from_slice(image);
            labels.push(self.labels[i]);
        }
        Ok(ImageSet {
            channels: self.channels,
            height: self.height,
            width: self.width,
            data,
            labels,
        })
    }
}

/// Reads a file, gunzipping it if it starts with the gzip magic.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = read_file(path)?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 3);
    MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| Error::format(path, format!("corrupt gzip stream: {e}")))?;
    Ok(out)
}

/// Parses an IDX `u8` header with the given magic; returns the dims and the payload.
fn idx_payload<'a>(bytes: &'a [u8], magic: u32, path: &Path) -> Result<(Vec<usize>, &'a [u8])> {
    let bad = |r: String| Error::format(path, r);
    let word = |i: usize| {
        bytes
            .get(4 * i..4 * i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let found = word(0).ok_or_else(|| bad("truncated IDX header".into()))?;
    if found != magic {
        return Err(bad(format!(
            "IDX magic number {found}, expected {magic} ({})",
            if magic == IDX_IMAGES {
                "images"
            } else {
                "labels"
            }
        )));
    }
    let ndims = (magic & 0xff) as usize;
    let dims: Vec<usize> = (1..=ndims)
        .map(|i| word(i).map(|d| d as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("truncated IDX header".into()))?;
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad("IDX dimensions overflow".into()))?;
    let start = 4 * (ndims + 1);
    let end = start.checked_add(count);
    let payload = end.and_then(|end| bytes.get(start..end)).ok_or_else(|| {
        bad(format!(
            "truncated: dims {dims:?} need {count} data bytes, found {}",
            bytes.len().saturating_sub(start)
        ))
    })?;
    Ok((dims, payload))
}

/// Reads an IDX image file (magic 2051, optionally gzipped) and its IDX label file (magic 2049).
pub fn read_idx(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<ImageSet> {
    let (images, labels) = (images.as_ref(), labels.as_ref());
    let image_bytes = read_maybe_gz(images)?;
    let (dims, pixels) = idx_payload(&image_bytes, IDX_IMAGES, images)?;
    let label_bytes = read_maybe_gz(labels)?;
    let (label_dims, label_values) = idx_payload(&label_bytes, IDX_LABELS, labels)?;
    if label_dims[0] != dims[0] {
        return Err(Error::format(
            labels,
            format!(
                "{} labels for {} images in {}",
                label_dims[0],
                dims[0],
                images.display()
            ),
        ));
    }
    ImageSet::new(1, dims[1], dims[2], pixels.to_vec(), label_values.to_vec())
        .map_err(|e| Error::format(images, e.to_string()))
}

/// The four Fashion-MNIST file names, as the original distribution (and Debian's
/// `dataset-fashion-mnist`) ships them.
pub const FASHION_MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// Reads Fashion-MNIST (or MNIST: same file names and format) from `dir`: `(train, test)`.
///
/// Accepts the `.gz` files or their uncompressed versions (same names without `.gz`).
pub fn read_fashion_mnist(dir: impl AsRef<Path>) -> Result<(ImageSet, ImageSet)> {
    let dir = dir.as_ref();
    let find = |name: &str| -> PathBuf {
        let gz = dir.join(name);
        let plain = dir.join(name.trim_end_matches(".gz"));
        if !gz.exists() && plain.exists() {
            plain
        } else {
            gz
        }
    };
    let [tr_x, tr_y, te_x, te_y] = FASHION_MNIST_FILES.map(find);
    Ok((read_idx(tr_x, tr_y)?, read_idx(te_x, te_y)?))
}

/// Reads one CIFAR-10 binary batch (`data_batch_N.bin` or `test_batch.bin`).
pub fn read_cifar10_batch(path: impl AsRef<Path>) -> Result<ImageSet> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    if bytes.is_empty() || bytes.len() % CIFAR_RECORD != 0 {
        return Err(Error::format(
            path,
            format!(
                "{} bytes is not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / CIFAR_RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut data = Vec::with_capacity(n * (CIFAR_RECORD - 1));
    for record in bytes.chunks_exact(CIFAR_RECORD) {
        if record[0] > 9 {
            return Err(Error::format(
                path,
                format!(
                    "label {} at record {}; CIFAR-10 labels are 0..=9",
                    record[0],
                    labels.len()
                ),
            ));
        }
        labels.push(record[0]);
        data.extend_from_slice(&record[1..]);
    }
    ImageSet::new(3, CIFAR_SIDE, CIFAR_SIDE, data, labels)
}

/// Reads the CIFAR-10 binary distribution from `dir` (`data_batch_1.bin` ...
/// `data_batch_5.bin`, `test_batch.bin`): `(train, test)`.
pub fn read_cifar10(dir: impl AsRef<Path>) -> Result<(ImageSet, ImageSet)> {
    let dir = dir.as_ref();
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for i in 1..=5 {
        let batch = read_cifar10_batch(dir.join(format!("data_batch_{i}.bin")))?;
        data.extend_from_slice(batch.data());
        labels.extend_from_slice(batch.labels());
    }
    let train = ImageSet::new(3, CIFAR_SIDE, CIFAR_SIDE, data, labels)?;
    Ok((train, read_cifar10_batch(dir.join("test_batch.bin"))?))
}
