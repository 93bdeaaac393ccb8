//! The one-class image protocol of GEOM, GOAD, CSI and SSD: one class is
//! normal; train on its training images only and test on the *whole* test set,
//! where every other class is an anomaly (e.g. GOAD's `load_data_CIFAR10`:
//! `train_data[train_labels == true_label]`, all of `test_data`).

use crate::error::{Error, Result};
use crate::formats::ImageSet;

/// A one-class image split.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSplit {
    /// Training images (the normal class only).
    pub train: ImageSet,
    /// The whole test set, in its original order.
    pub test: ImageSet,
    /// Per test image, `true` when its class is not the normal one.
    pub test_labels: Vec<bool>,
}

/// Splits `train`/`test` with `normal_class` as the normal class.
pub fn one_class_split(train: &ImageSet, test: &ImageSet, normal_class: u8) -> Result<ImageSplit> {
    let shape = |s: &ImageSet| (s.channels(), s.height(), s.width());
    if shape(train) != shape(test) {
        return Err(Error::Protocol(format!(
            "train images are {:?} but test images are {:?}",
            shape(train),
            shape(test)
        )));
    }
    let rows: Vec<usize> = (0..train.len())
        .filter(|&i| train.labels()[i] == normal_class)
        .collect();
    if rows.is_empty() {
        return Err(Error::Protocol(format!(
            "no training image has class {normal_class}"
        )));
    }
    Ok(ImageSplit {
        train: train.select(&rows)?,
        test: test.clone(),
        test_labels: test.labels().iter().map(|&l| l != normal_class).collect(),
    })
}
