//! IDX (Fashion-MNIST), CIFAR-10 batches and the MVTec AD layout.

mod common;

use std::io::Write;
use std::path::Path;

use common::data_file;
use ssad_data::formats::{
    load_image_chw, load_mask, read_cifar10, read_cifar10_batch, read_fashion_mnist, read_idx,
    ImageSet, MvtecCategory,
};
use ssad_data::protocols::one_class_split;
use ssad_data::Error;

const FASHION_DIR: &str = "/usr/share/datasets/fashion-mnist";

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

#[test]
fn fashion_mnist_real_files() {
    // Installed by the Debian package `dataset-fashion-mnist`, outside the data root.
    if !Path::new(FASHION_DIR)
        .join("t10k-labels-idx1-ubyte.gz")
        .exists()
    {
        println!("skipped: {FASHION_DIR} absent (apt-get install dataset-fashion-mnist)");
        return;
    }
    let (train, test) = read_fashion_mnist(FASHION_DIR).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(
        (train.channels(), train.height(), train.width()),
        (1, 28, 28)
    );
    // Both sets are balanced: 6000 / 1000 images per class.
    for class in 0..10u8 {
        assert_eq!(train.labels().iter().filter(|&&l| l == class).count(), 6000);
        assert_eq!(test.labels().iter().filter(|&&l| l == class).count(), 1000);
    }
    // The first training image is an ankle boot (class 9) per the dataset's README.
    assert_eq!(train.labels()[0], 9);
    let split = one_class_split(&train, &test, 0).unwrap();
    assert_eq!(split.train.len(), 6000);
    assert_eq!(split.test.len(), 10_000);
    assert_eq!(split.test_labels.iter().filter(|&&a| a).count(), 9000);
}

#[test]
fn idx_round_trip_plain_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..2 * 3 * 4).map(|v| v as u8).collect();
    let images = idx(2051, &[2, 3, 4], &pixels);
    let labels = idx(2049, &[2], &[7, 1]);
    for (compress, suffix) in [(false, ""), (true, ".gz")] {
        let enc = |b: &[u8]| if compress { gz(b) } else { b.to_vec() };
        let xi = dir.path().join(format!("x{suffix}"));
        let yi = dir.path().join(format!("y{suffix}"));
        std::fs::write(&xi, enc(&images)).unwrap();
        std::fs::write(&yi, enc(&labels)).unwrap();
        let set = read_idx(&xi, &yi).unwrap();
        assert_eq!((set.len(), set.height(), set.width()), (2, 3, 4));
        assert_eq!(set.image(1).unwrap()[0], 12);
        assert_eq!(set.labels(), &[7, 1]);
        assert!((set.to_f32()[23] - 23.0 / 255.0).abs() < 1e-7);
    }
}

#[test]
fn bad_idx_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, b: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    let images = write("img", &idx(2051, &[2, 2, 2], &[0; 8]));
    let labels = write("lab", &idx(2049, &[2], &[0, 1]));
    // Wrong magic: labels given as images.
    let err = read_idx(&labels, &images).unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");
    assert!(err.to_string().contains("lab"), "{err}");
    // Truncated pixels.
    let short = write("short", &idx(2051, &[2, 2, 2], &[0; 7]));
    assert!(matches!(
        read_idx(&short, &labels),
        Err(Error::Format { .. })
    ));
    // Label count differs from image count.
    let three = write("three", &idx(2049, &[3], &[0, 1, 2]));
    let err = read_idx(&images, &three).unwrap_err();
    assert!(err.to_string().contains("3 labels for 2 images"), "{err}");
    // Corrupt gzip.
    let mut z = gz(&idx(2051, &[2, 2, 2], &[0; 8]));
    let n = z.len();
    z[n / 2..].iter_mut().for_each(|b| *b ^= 0x33);
    let corrupt = write("corrupt.gz", &z);
    let err = read_idx(&corrupt, &labels).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err}");
    // Header shorter than its dimensions.
    let tiny = write("tiny", &[0, 0, 8, 3, 0, 0]);
    assert!(matches!(
        read_idx(&tiny, &labels),
        Err(Error::Format { .. })
    ));
}

#[test]
fn generated_cifar_batches_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let record = |label: u8, seed: u8| {
        let mut r = vec![label];
        r.extend((0..3072u32).map(|i| (i as u8).wrapping_mul(seed)));
        r
    };
    for b in 1..=5u8 {
        let bytes: Vec<u8> = (0..3u8).flat_map(|i| record((b + i) % 10, b + i)).collect();
        std::fs::write(dir.path().join(format!("data_batch_{b}.bin")), bytes).unwrap();
    }
    std::fs::write(
        dir.path().join("test_batch.bin"),
        [record(3, 9), record(4, 11)].concat(),
    )
    .unwrap();
    let (train, test) = read_cifar10(dir.path()).unwrap();
    assert_eq!((train.len(), test.len()), (15, 2));
    assert_eq!((test.channels(), test.height(), test.width()), (3, 32, 32));
    assert_eq!(test.labels(), &[3, 4]);
    assert_eq!(test.image(1).unwrap(), &record(4, 11)[1..]);
    assert_eq!(train.labels()[..3], [1, 2, 3]);

    let short = dir.path().join("short.bin");
    std::fs::write(&short, &record(1, 1)[..3000]).unwrap();
    let err = read_cifar10_batch(&short).unwrap_err();
    assert!(err.to_string().contains("short.bin"), "{err}");
    let bad_label = dir.path().join("label.bin");
    std::fs::write(&bad_label, record(10, 1)).unwrap();
    assert!(matches!(
        read_cifar10_batch(&bad_label),
        Err(Error::Format { .. })
    ));
}

#[test]
fn image_set_rejects_inconsistent_sizes() {
    assert!(ImageSet::new(1, 2, 2, vec![0; 7], vec![0, 1]).is_err());
    let s = ImageSet::new(1, 2, 2, vec![0; 8], vec![0, 1]).unwrap();
    assert!(s.select(&[2]).is_err());
    assert_eq!(s.select(&[1, 1]).unwrap().labels(), &[1, 1]);
}

#[test]
fn mvtec_bottle_layout_and_decoding() {
    let Some(root) = data_file("mvtec_ad_256/bottle") else {
        return;
    };
    let cat = MvtecCategory::open(&root).unwrap();
    assert_eq!(cat.train.len(), 209);
    assert_eq!(cat.test.len(), 83);
    let labels = cat.test_labels();
    assert_eq!(labels.iter().filter(|&&a| !a).count(), 20);
    assert_eq!(labels.iter().filter(|&&a| a).count(), 63);
    assert_eq!(cat.test.iter().filter(|s| s.mask.is_some()).count(), 63);
    assert!(cat
        .train
        .iter()
        .all(|s| !s.is_anomaly() && s.mask.is_none()));

    let img = load_image_chw(&cat.train[0].image).unwrap();
    assert_eq!((img.channels, img.height, img.width), (3, 256, 256));
    assert!(img.data.iter().all(|&v| (0.0..=1.0).contains(&v)));
    let defective = cat.test.iter().find(|s| s.is_anomaly()).unwrap();
    let mask = load_mask(defective.mask.as_deref(), 256, 256).unwrap();
    let on = mask.data.iter().filter(|&&v| v == 1.0).count();
    assert!(on > 0 && on < 256 * 256);
    assert!(mask.data.iter().all(|&v| v == 0.0 || v == 1.0));
    let good = load_mask(None, 256, 256).unwrap();
    assert!(good.data.iter().all(|&v| v == 0.0));
    assert!(load_mask(defective.mask.as_deref(), 128, 128).is_err());
}

#[test]
fn mvtec_corrupt_png_and_missing_mask_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("toy");
    for d in [
        "train/good",
        "test/good",
        "test/crack",
        "ground_truth/crack",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let png = |path: &Path| {
        image::RgbImage::from_pixel(4, 4, image::Rgb([10, 20, 30]))
            .save(path)
            .unwrap();
    };
    png(&root.join("train/good/000.png"));
    png(&root.join("test/good/000.png"));
    png(&root.join("test/crack/000.png"));
    let err = MvtecCategory::open(&root).unwrap_err();
    assert!(err.to_string().contains("000_mask.png"), "{err}");

    image::GrayImage::from_pixel(4, 4, image::Luma([255]))
        .save(root.join("ground_truth/crack/000_mask.png"))
        .unwrap();
    let cat = MvtecCategory::open(&root).unwrap();
    // Defect folders are listed in sorted order: `crack` before `good`.
    assert_eq!(cat.test_labels(), vec![true, false]);
    let img = load_image_chw(&cat.train[0].image).unwrap();
    assert!((img.data[16] - 20.0 / 255.0).abs() < 1e-7); // green plane starts at H*W

    let broken = root.join("train/good/001.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let err = load_image_chw(&broken).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err}");
    assert!(err.to_string().contains("001.png"));
}
