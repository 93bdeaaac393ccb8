//! Every reader on the real dataset files, against numpy/scipy/pandas known answers
//! (`fixtures/make_fixtures.py`), plus malformed inputs made in a tempdir.

mod common;

use std::path::Path;

use common::{assert_close, data_file, fixtures, floats};
use ssad_core::Matrix;
use ssad_data::formats::{read_kdd, read_mat, read_mat_xy, read_npz, read_npz_xy};
use ssad_data::Error;

/// Compares the leading block and the first column sums with the fixture.
fn check_matrix(x: &Matrix, fx: &serde_json::Value, what: &str) {
    let shape = floats(&fx["shape"]);
    assert_eq!(
        (x.rows() as f64, x.cols() as f64),
        (shape[0], shape[1]),
        "{what}"
    );
    for (i, row) in fx["head"].as_array().unwrap().iter().enumerate() {
        for (j, v) in floats(row).into_iter().enumerate() {
            assert_close(f64::from(x.row(i)[j]), v, 1e-6, &format!("{what}[{i},{j}]"));
        }
    }
    for (j, want) in floats(&fx["col_sums"]).into_iter().enumerate() {
        let got: f64 = x.iter_rows().map(|r| f64::from(r[j])).sum();
        assert_close(got, want, 1e-5, &format!("{what} column {j} sum"));
    }
}

#[test]
fn npz_files_match_numpy() {
    let fx = fixtures();
    for (name, f) in fx["npz"].as_object().unwrap() {
        let Some(path) = data_file(f["path"].as_str().unwrap()) else {
            return;
        };
        let data = read_npz_xy(&path).unwrap();
        check_matrix(&data.x, f, name);
        assert_eq!(
            data.n_anomalies() as u64,
            f["n_anomalies"].as_u64().unwrap(),
            "{name}"
        );
        let arrays = read_npz(&path).unwrap();
        assert_eq!(
            arrays["X"].data.dtype(),
            f["dtype"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            arrays["X"].fortran_order,
            f["fortran_order"].as_bool().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn mat_files_match_scipy() {
    let fx = fixtures();
    for (name, f) in fx["mat"].as_object().unwrap() {
        let Some(path) = data_file(f["path"].as_str().unwrap()) else {
            return;
        };
        let data = read_mat_xy(&path).unwrap();
        check_matrix(&data.x, f, name);
        assert_eq!(
            data.n_anomalies() as u64,
            f["n_anomalies"].as_u64().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn thyroid_mat_and_npz_hold_the_same_data() {
    let (Some(mat), Some(npz)) = (
        data_file("odds/thyroid.mat"),
        data_file("adbench/classical/38_thyroid.npz"),
    ) else {
        return;
    };
    let (a, b) = (read_mat_xy(mat).unwrap(), read_npz_xy(npz).unwrap());
    assert_eq!(a.x.shape(), (3772, 6));
    assert_eq!(a.n_anomalies(), 93);
    assert_eq!(a, b);
}

#[test]
fn mat_variable_types_are_the_documented_ones() {
    let Some(path) = data_file("odds/arrhythmia.mat") else {
        return;
    };
    let f = read_mat(&path).unwrap();
    assert_eq!(f.get("X").unwrap().dims, vec![452, 274]);
    assert_eq!(f.get("y").unwrap().dims, vec![452, 1]);
    let err = f.get("Z").unwrap_err().to_string();
    assert!(
        err.contains("arrhythmia.mat") && err.contains("\"X\""),
        "{err}"
    );
}

#[test]
fn kdd_matches_pandas_get_dummies() {
    let fx = fixtures();
    let f = &fx["kdd"];
    let Some(path) = data_file(f["path"].as_str().unwrap()) else {
        return;
    };
    let k = read_kdd(&path).unwrap();
    assert_eq!(k.x.shape(), (494_021, 121));
    let want_cols: Vec<&str> = f["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(k.columns, want_cols);
    let cont: Vec<usize> = k
        .continuous
        .iter()
        .enumerate()
        .filter_map(|(i, &c)| c.then_some(i))
        .collect();
    let want_cont: Vec<usize> = floats(&f["cont_indices"])
        .iter()
        .map(|&v| v as usize)
        .collect();
    assert_eq!(cont, want_cont);
    assert_eq!(
        k.is_normal().iter().filter(|&&n| n).count() as u64,
        f["n_normal"].as_u64().unwrap()
    );
    let last = k.x.rows() - 1;
    for (row, key) in [(0, "first_row"), (last, "last_row")] {
        for (j, v) in floats(&f[key]).into_iter().enumerate() {
            assert_close(f64::from(k.x.row(row)[j]), v, 1e-6, &format!("{key}[{j}]"));
        }
    }
    let mut sums = vec![0.0f64; k.x.cols()];
    for r in k.x.iter_rows() {
        for (s, &v) in sums.iter_mut().zip(r) {
            *s += f64::from(v);
        }
    }
    for (j, want) in floats(&f["col_sums"]).into_iter().enumerate() {
        assert_close(sums[j], want, 1e-5, &format!("column {} sum", k.columns[j]));
    }
}

// ---- malformed inputs: typed errors naming the file, never a panic ----

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn assert_names_file(err: &Error, name: &str) {
    assert!(
        err.to_string().contains(name),
        "error does not name {name}: {err}"
    );
}

#[test]
fn truncated_and_corrupt_real_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    if let Some(path) = data_file("odds/thyroid.mat") {
        let bytes = std::fs::read(path).unwrap();
        for cut in [0, 100, 200, bytes.len() / 2, bytes.len() - 1] {
            let p = write(dir.path(), "cut.mat", &bytes[..cut]);
            let err = read_mat_xy(&p).unwrap_err();
            assert!(matches!(err, Error::Format { .. }), "cut {cut}: {err}");
            assert_names_file(&err, "cut.mat");
        }
        // Flip bytes inside the first compressed element's zlib stream.
        let mut corrupt = bytes.clone();
        for b in &mut corrupt[150..170] {
            *b ^= 0x5a;
        }
        let p = write(dir.path(), "corrupt.mat", &corrupt);
        let err = read_mat_xy(&p).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err}");
        assert_names_file(&err, "corrupt.mat");
    }
    if let Some(path) = data_file("adbench/classical/38_thyroid.npz") {
        let bytes = std::fs::read(path).unwrap();
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 10] {
            let p = write(dir.path(), "cut.npz", &bytes[..cut]);
            let err = read_npz_xy(&p).unwrap_err();
            assert_names_file(&err, "cut.npz");
        }
        let mut corrupt = bytes.clone();
        let mid = bytes.len() / 3;
        for b in &mut corrupt[mid..mid + 64] {
            *b ^= 0xff;
        }
        let p = write(dir.path(), "corrupt.npz", &corrupt);
        let err = read_npz_xy(&p).unwrap_err();
        assert_names_file(&err, "corrupt.npz");
    }
    if let Some(path) = data_file("kddcup99/kddcup.data_10_percent.gz") {
        let bytes = std::fs::read(path).unwrap();
        let p = write(dir.path(), "cut.gz", &bytes[..bytes.len() / 50]);
        let err = read_kdd(&p).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err}");
        assert_names_file(&err, "cut.gz");
    }
}

#[test]
fn missing_files_are_io_errors_naming_the_path() {
    let err = read_npz_xy("no/such/file.npz").unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert_names_file(&err, "no/such/file.npz");
    let err = read_mat_xy("no/such/file.mat").unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
}

#[test]
fn npz_label_count_mismatch_is_an_error() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let npy = |descr: &str, shape: &str, payload: &[u8]| {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(payload);
        out
    };
    let path = dir.path().join("mismatch.npz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file("X.npy", opts).unwrap();
    zip.write_all(&npy("|u1", "(3, 2)", &[1, 2, 3, 4, 5, 6]))
        .unwrap();
    zip.start_file("y.npy", opts).unwrap();
    zip.write_all(&npy("|u1", "(2,)", &[0, 1])).unwrap();
    zip.finish().unwrap();
    let err = read_npz_xy(&path).unwrap_err();
    assert!(
        err.to_string().contains("3 feature rows but 2 labels"),
        "{err}"
    );
    assert_names_file(&err, "mismatch.npz");
}

#[test]
fn matlab_v73_files_are_rejected_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes =
        b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 2024 HDF5 schema 1.00 ."
            .to_vec();
    bytes.resize(512, b' ');
    bytes.extend_from_slice(b"\x89HDF\r\n\x1a\n");
    bytes.resize(2048, 0);
    let p = write(dir.path(), "big_v73.mat", &bytes);
    let err = read_mat_xy(&p).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert_names_file(&err, "big_v73.mat");
    assert!(err.to_string().contains("-v7"), "{err}");
}

#[test]
fn npz_with_pickled_objects_is_rejected() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    npy.extend_from_slice(b"\x80\x04K\x01.");
    let path = dir.path().join("objects.npz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    zip.start_file("X.npy", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(&npy).unwrap();
    zip.finish().unwrap();
    let err = read_npz_xy(&path).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("objects.npz"), "{err}");
}
