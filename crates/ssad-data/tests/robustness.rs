//! Parsers never panic: arbitrary and mutated bytes give `Ok` or a typed error.

mod common;

use std::path::Path;

use proptest::prelude::*;
use ssad_data::formats::{parse_kdd, parse_mat, parse_npy};

fn npy(descr: &str, fortran: bool, shape: &[usize], payload: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let f = if fortran { "True" } else { "False" };
    let header = format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape}, }}\n");
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn npy_round_trips_any_shape(rows in 0usize..20, cols in 1usize..8, fortran: bool, seed: u64) {
        let values: Vec<f64> = (0..rows * cols)
            .map(|i| ((i as u64).wrapping_mul(seed | 1) % 1000) as f64 - 500.0)
            .collect();
        // Store in the requested order; the matrix must come back row-major either way.
        let stored: Vec<f64> = if fortran {
            (0..cols).flat_map(|j| (0..rows).map(move |i| (i, j)))
                .map(|(i, j)| values[i * cols + j]).collect()
        } else {
            values.clone()
        };
        let payload: Vec<u8> = stored.iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = npy("<f8", fortran, &[rows, cols], &payload);
        let p = Path::new("p.npy");
        let m = parse_npy(&bytes, p).unwrap().to_matrix(p).unwrap();
        prop_assert_eq!(m.shape(), (rows, cols));
        let back: Vec<f64> = m.as_slice().iter().map(|&v| f64::from(v)).collect();
        prop_assert_eq!(back, values);
    }

    #[test]
    fn npy_survives_mutations(pos in 0usize..200, byte: u8, cut in 0usize..200) {
        let payload: Vec<u8> = (0..6 * 8).map(|i| i as u8).collect();
        let mut bytes = npy("<f8", true, &[3, 2], &payload);
        let n = bytes.len();
        bytes[pos % n] = byte;
        bytes.truncate(cut.max(1).min(n));
        let p = Path::new("m.npy");
        if let Ok(a) = parse_npy(&bytes, p) {
            let _ = a.to_matrix(p);
            let _ = a.to_anomaly_labels(p);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_npy(&bytes, Path::new("a.npy"));
        let _ = parse_mat(&bytes, Path::new("a.mat"));
        let _ = parse_kdd(&bytes, Path::new("a.csv"));
        let mut with_header = b"MATLAB 5.0 MAT-file".to_vec();
        with_header.resize(126, b' ');
        with_header.extend_from_slice(b"IM");
        with_header.extend_from_slice(&bytes);
        let _ = parse_mat(&with_header, Path::new("h.mat"));
    }
}

#[test]
fn mutated_real_mat_files_never_panic() {
    let Some(path) = common::data_file("odds/arrhythmia.mat") else {
        return;
    };
    let original = std::fs::read(path).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..300 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bytes = original.clone();
        // Mutations in the header and element tags are the interesting ones.
        let pos = (state as usize) % 400.min(bytes.len());
        bytes[pos] = (state >> 32) as u8;
        if let Ok(f) = parse_mat(&bytes, Path::new("m.mat")) {
            for a in &f.arrays {
                let _ = a.to_matrix(Path::new("m.mat"));
            }
        }
    }
}
