//! GOAD's tabular protocols, following `data_loader.py` of lironber/GOAD
//! (Bergman & Hoshen, ICLR 2020).
//!
//! * Arrhythmia / Thyroid ([`goad_tabular`]): no shuffle. The first
//!   ⌊n_normal/2⌋ normal rows in file order train; the test set is the other
//!   normal rows (file order) followed by all anomalies (file order). Every
//!   column is z-scored with the training mean and std (std 0 → 1).
//! * KDD ([`goad_kdd`]): `normal.` rows are the *anomalies*, attack rows the
//!   normal class. A random half (⌊n/2⌋) of the attack rows trains; the test
//!   set is the other attacks (in shuffled order) followed by every `normal.`
//!   row (file order). Only the continuous columns are z-scored, and, as in
//!   GOAD's `norm_kdd_data`, the output puts the one-hot columns first and the
//!   continuous ones after them.
//! * KDDRev ([`goad_kddrev`]): `normal.` rows are normal; 24,319 randomly drawn
//!   attack rows are the anomalies; a random half of the normal rows trains.
//!
//! GOAD draws its permutations from numpy's global RNG; ours come from
//! [`Seed`] (stream `Subsample`), so the sets differ row by row from any one
//! GOAD run but follow the same distribution. The F1-at-contamination
//! threshold depends only on the test counts, which match exactly.

use rand::seq::SliceRandom;
use rayon::prelude::*;
use ssad_core::{Matrix, Seed, Stream};

use super::{Split, Standardizer};
use crate::error::{Error, Result};
use crate::formats::{Kdd, Labeled};

/// Number of attack rows KDDRev keeps as anomalies (GOAD's constant, for a 4:1 ratio).
pub const KDDREV_ANOMALIES: usize = 24_319;

/// GOAD's Arrhythmia/Thyroid split of `data` (see the module doc).
pub fn goad_tabular(data: &Labeled) -> Result<Split> {
    let normals: Vec<usize> = (0..data.len()).filter(|&i| !data.y[i]).collect();
    let anomalies: Vec<usize> = (0..data.len()).filter(|&i| data.y[i]).collect();
    let n_train = normals.len() / 2;
    if n_train == 0 {
        return Err(Error::Protocol(format!(
            "GOAD split needs at least 2 normal rows, got {}",
            normals.len()
        )));
    }
    let x = data.x.view();
    let train = x.select_rows(&normals[..n_train])?;
    let test_rows: Vec<usize> = normals[n_train..]
        .iter()
        .chain(&anomalies)
        .copied()
        .collect();
    let test = x.select_rows(&test_rows)?;
    let mut test_labels = vec![false; normals.len() - n_train];
    test_labels.resize(test_rows.len(), true);
    let scaler = Standardizer::fit(train.view())?;
    Ok(Split {
        train: scaler.transform(train.view())?,
        test: scaler.transform(test.view())?,
        test_labels,
    })
}

/// GOAD's `kdd` protocol (see the module doc).
pub fn goad_kdd(kdd: &Kdd, seed: Seed) -> Result<Split> {
    let is_normal = kdd.is_normal();
    // Inverted on purpose: attacks are the majority, hence GOAD's "normal" class.
    let attacks: Vec<usize> = (0..is_normal.len()).filter(|&i| !is_normal[i]).collect();
    let anomalies: Vec<usize> = (0..is_normal.len()).filter(|&i| is_normal[i]).collect();
    kdd_split(kdd, attacks, anomalies, seed, 0)
}

/// GOAD's `kddrev` protocol (see the module doc).
pub fn goad_kddrev(kdd: &Kdd, seed: Seed) -> Result<Split> {
    let is_normal = kdd.is_normal();
    let normals: Vec<usize> = (0..is_normal.len()).filter(|&i| is_normal[i]).collect();
    let mut attacks: Vec<usize> = (0..is_normal.len()).filter(|&i| !is_normal[i]).collect();
    if attacks.len() < KDDREV_ANOMALIES {
        return Err(Error::Protocol(format!(
            "KDDRev needs {KDDREV_ANOMALIES} attack rows, the data has {}",
            attacks.len()
        )));
    }
    attacks.shuffle(&mut seed.rng(Stream::Subsample, 0, 1));
    attacks.truncate(KDDREV_ANOMALIES);
    kdd_split(kdd, normals, attacks, seed, 2)
}

/// Trains on a random half of `normal`, tests on the rest plus `anomalies`.
fn kdd_split(
    kdd: &Kdd,
    mut normal: Vec<usize>,
    anomalies: Vec<usize>,
    seed: Seed,
    stream_index: u64,
) -> Result<Split> {
    let n_train = normal.len() / 2;
    if n_train == 0 || anomalies.is_empty() {
        return Err(Error::Protocol(format!(
            "KDD split needs normal and anomalous rows, got {} and {}",
            normal.len(),
            anomalies.len()
        )));
    }
    normal.shuffle(&mut seed.rng(Stream::Subsample, 0, stream_index));
    let order = goad_column_order(&kdd.continuous);
    let x = kdd.x.view();
    let width = order.len();
    x.check_width(width)?;
    if let Some(&bad) = normal.iter().chain(&anomalies).find(|&&r| r >= x.rows()) {
        return Err(Error::Protocol(format!(
            "row {bad} out of range for {}",
            x.rows()
        )));
    }
    let reordered = |rows: &[usize]| -> Result<Matrix> {
        let mut data = vec![0.0f32; rows.len() * width];
        data.par_chunks_mut(width.max(1))
            .zip(rows)
            .for_each(|(out, &r)| {
                let row = x.row(r);
                for (o, &c) in out.iter_mut().zip(&order) {
                    *o = row[c];
                }
            });
        Ok(Matrix::new(data, rows.len(), width)?)
    };
    let mut train = reordered(&normal[..n_train])?;
    let test_rows: Vec<usize> = normal[n_train..]
        .iter()
        .chain(&anomalies)
        .copied()
        .collect();
    let mut test = reordered(&test_rows)?;
    let continuous: Vec<bool> = order.iter().map(|&c| kdd.continuous[c]).collect();
    let scaler = Standardizer::fit_columns(train.view(), &continuous)?;
    scaler.transform_in_place(&mut train)?;
    scaler.transform_in_place(&mut test)?;
    let mut test_labels = vec![false; normal.len() - n_train];
    test_labels.resize(test_rows.len(), true);
    Ok(Split {
        train,
        test,
        test_labels,
    })
}

/// GOAD's `norm_kdd_data` output order: the symbolic (one-hot) columns, then the continuous ones.
fn goad_column_order(continuous: &[bool]) -> Vec<usize> {
    let symbolic = (0..continuous.len()).filter(|&c| !continuous[c]);
    symbolic
        .chain((0..continuous.len()).filter(|&c| continuous[c]))
        .collect()
}
