//! MATLAB level-5 (`-v6`/`-v7`) `.mat` files: numeric matrices only.
//!
//! Hand-rolled rather than built on the `matfile` crate: that crate is
//! self-described alpha, brings `nom` and a second deflate implementation
//! (`libflate`) next to our `flate2`, and its errors do not name the file. The
//! subset the ODDS files need (little-endian v5, `miCOMPRESSED` and plain
//! `miMATRIX` elements, real numeric classes) is about two hundred lines.
//!
//! Structs, cells, char, sparse and complex variables are skipped (listed in
//! [`MatFile::skipped`]). MATLAB 7.3 files are HDF5 containers and are rejected
//! with a hint to re-save them as v7.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::ZlibDecoder;
use ssad_core::Matrix;

use super::npy::binary_labels;
use super::{read_file, Labeled};
use crate::error::{Error, Result};

const HEADER_LEN: usize = 128;
const HDF5_SIGNATURE: &[u8] = b"\x89HDF\r\n\x1a\n";

// Data element types (MAT-file format, table 1-1).
const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

// Array classes of numeric matrices (mxDOUBLE_CLASS ... mxUINT64_CLASS).
const NUMERIC_CLASSES: std::ops::RangeInclusive<u8> = 6..=15;
const COMPLEX_FLAG: u8 = 0x08;

/// One real numeric variable of a `.mat` file.
#[derive(Debug, Clone, PartialEq)]
pub struct MatArray {
    /// The variable name.
    pub name: String,
    /// Dimensions as MATLAB reports them (at least two).
    pub dims: Vec<usize>,
    /// The values in MATLAB's column-major order, widened to `f64`.
    pub values: Vec<f64>,
}

impl MatArray {
    /// The variable as a row-major `f32` matrix (2-D variables only).
    pub fn to_matrix(&self, origin: &Path) -> Result<Matrix> {
        let [rows, cols] = self.dims[..] else {
            return Err(Error::unsupported(
                origin,
                format!(
                    "variable `{}` has {} dimensions, expected 2",
                    self.name,
                    self.dims.len()
                ),
            ));
        };
        if rows.checked_mul(cols) != Some(self.values.len()) {
            return Err(Error::format(
                origin,
                format!(
                    "variable `{}` has dims {:?} but {} values",
                    self.name,
                    self.dims,
                    self.values.len()
                ),
            ));
        }
        let mut out = vec![0.0f32; rows * cols];
        for (j, column) in self.values.chunks_exact(rows.max(1)).take(cols).enumerate() {
            for (i, &v) in column.iter().enumerate() {
                #[allow(clippy::cast_possible_truncation)]
                {
                    out[i * cols + j] = v as f32;
                }
            }
        }
        Ok(Matrix::new(out, rows, cols)?)
    }
}

/// The numeric variables of a `.mat` file.
#[derive(Debug, Clone, PartialEq)]
pub struct MatFile {
    /// The file that was read.
    pub path: PathBuf,
    /// Real numeric variables, in file order.
    pub arrays: Vec<MatArray>,
    /// Names of variables that were skipped because they are not real numeric matrices.
    pub skipped: Vec<String>,
}

impl MatFile {
    /// The numeric variable called `name`, or a [`Error::Format`] listing what the file holds.
    pub fn get(&self, name: &str) -> Result<&MatArray> {
        self.arrays.iter().find(|a| a.name == name).ok_or_else(|| {
            let found: Vec<&str> = self.arrays.iter().map(|a| a.name.as_str()).collect();
            Error::format(
                &self.path,
                format!(
                    "no numeric variable `{name}`; numeric: {found:?}, skipped: {:?}",
                    self.skipped
                ),
            )
        })
    }
}

/// Reads every real numeric variable of a MATLAB v5 `.mat` file.
pub fn read_mat(path: impl AsRef<Path>) -> Result<MatFile> {
    let path = path.as_ref();
    parse_mat(&read_file(path)?, path)
}

/// Reads the `X` (features) and `y` (0/1 anomaly labels) variables of an ODDS `.mat` file.
pub fn read_mat_xy(path: impl AsRef<Path>) -> Result<Labeled> {
    let path = path.as_ref();
    let file = read_mat(path)?;
    let x = file.get("X")?.to_matrix(path)?;
    let y = file.get("y")?;
    if y.dims.iter().filter(|&&d| d != 1).count() > 1 {
        return Err(Error::format(
            path,
            format!("`y` must be a vector, got dims {:?}", y.dims),
        ));
    }
    let labels = binary_labels(y.values.iter().copied(), &path.join("y"))?;
    Labeled::new(x, labels, path)
}

/// Parses the bytes of a `.mat` file; `origin` names them in errors.
pub fn parse_mat(bytes: &[u8], origin: &Path) -> Result<MatFile> {
    let bad = |reason: String| Error::format(origin, reason);
    if bytes.starts_with(HDF5_SIGNATURE)
        || bytes.get(512..520) == Some(HDF5_SIGNATURE)
        || bytes.starts_with(b"MATLAB 7.3")
    {
        return Err(Error::unsupported(
            origin,
            "MATLAB 7.3 (HDF5) file; re-save it as v7 with `save(f, '-v7')` in MATLAB \
             or `scipy.io.savemat(f, scipy.io.loadmat(f))` / h5py in Python",
        ));
    }
    if bytes.len() < HEADER_LEN {
        return Err(bad(format!(
            "truncated: {} bytes, a MAT v5 header alone is {HEADER_LEN}",
            bytes.len()
        )));
    }
    if !bytes.starts_with(b"MATLAB") {
        return Err(bad(
            "not a MATLAB .mat file (header does not start with `MATLAB`)".into(),
        ));
    }
    match &bytes[126..128] {
        b"IM" => {}
        b"MI" => {
            return Err(Error::unsupported(
                origin,
                "big-endian MAT file; re-save it on a little-endian machine",
            ))
        }
        other => return Err(bad(format!("bad endian indicator {other:?}"))),
    }

    let mut file = MatFile {
        path: origin.to_path_buf(),
        arrays: Vec::new(),
        skipped: Vec::new(),
    };
    let mut cursor = Cursor::new(&bytes[HEADER_LEN..]);
    while !cursor.is_empty() {
        let element = cursor.element().map_err(&bad)?;
        match element.kind {
            MI_COMPRESSED => {
                let mut inflated = Vec::new();
                ZlibDecoder::new(element.data)
                    .read_to_end(&mut inflated)
                    .map_err(|e| bad(format!("corrupt zlib stream (miCOMPRESSED): {e}")))?;
                let mut inner = Cursor::new(&inflated);
                while !inner.is_empty() {
                    let e = inner.element().map_err(&bad)?;
                    read_matrix(&e, &mut file).map_err(&bad)?;
                }
            }
            _ => read_matrix(&element, &mut file).map_err(&bad)?,
        }
    }
    Ok(file)
}

/// One tagged data element: its type and its (unpadded) bytes.
struct Element<'a> {
    kind: u32,
    data: &'a [u8],
}

/// Walks consecutive data elements, honouring the small-element format and 8-byte padding.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn u32_at(&self, at: usize) -> std::result::Result<u32, String> {
        self.bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| format!("truncated data element tag at byte {}", at + HEADER_LEN))
    }

    fn element(&mut self) -> std::result::Result<Element<'a>, String> {
        let first = self.u32_at(self.pos)?;
        if first >> 16 != 0 {
            // Small data element: type and size share the first word, data the second.
            let (kind, len) = (first & 0xffff, (first >> 16) as usize);
            if len > 4 {
                return Err(format!("small data element claims {len} bytes"));
            }
            let data = self
                .bytes
                .get(self.pos + 4..self.pos + 4 + len)
                .ok_or("truncated small data element")?;
            self.pos += 8;
            return Ok(Element { kind, data });
        }
        let len = self.u32_at(self.pos + 4)? as usize;
        let start = self.pos + 8;
        let data = start
            .checked_add(len)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or_else(|| {
                format!(
                    "truncated: element of type {first} needs {len} bytes, {} remain",
                    self.bytes.len().saturating_sub(start)
                )
            })?;
        // Compressed elements are not padded; everything else is to 8 bytes.
        let padded = if first == MI_COMPRESSED {
            len
        } else {
            len.div_ceil(8) * 8
        };
        self.pos = (start + padded).min(self.bytes.len());
        Ok(Element { kind: first, data })
    }
}

/// Decodes one miMATRIX element into `file` (or records it as skipped).
fn read_matrix(element: &Element<'_>, file: &mut MatFile) -> std::result::Result<(), String> {
    if element.kind != MI_MATRIX {
        return Err(format!(
            "unexpected top-level data element type {}",
            element.kind
        ));
    }
    if element.data.is_empty() {
        return Ok(()); // MATLAB writes empty miMATRIX elements for empty cells.
    }
    let mut c = Cursor::new(element.data);
    let flags = c.element()?;
    if flags.kind != MI_UINT32 || flags.data.len() < 8 {
        return Err("bad array-flags subelement".into());
    }
    let class = flags.data[0];
    let flag_bits = flags.data[1];
    let dims = c.element()?;
    if dims.kind != MI_INT32 {
        return Err("bad dimensions subelement".into());
    }
    let dims: Vec<usize> = dims
        .data
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .map(|d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<std::result::Result<_, _>>()?;
    let name = c.element()?;
    let name = String::from_utf8_lossy(name.data).into_owned();
    if !NUMERIC_CLASSES.contains(&class) || flag_bits & COMPLEX_FLAG != 0 {
        file.skipped.push(name);
        return Ok(());
    }
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("dimensions overflow")?;
    let real = c.element()?;
    let values = decode_numeric(real.kind, real.data)?;
    if values.len() != count {
        return Err(format!(
            "variable `{name}` has dims {dims:?} ({count} values) but stores {}",
            values.len()
        ));
    }
    file.arrays.push(MatArray { name, dims, values });
    Ok(())
}

/// Widens stored values to `f64`; MATLAB may store a double matrix as a narrower type.
#[allow(clippy::cast_precision_loss)]
fn decode_numeric(kind: u32, b: &[u8]) -> std::result::Result<Vec<f64>, String> {
    macro_rules! le {
        ($t:ty, $n:expr) => {
            b.chunks_exact($n)
                .map(|c| {
                    let mut a = [0u8; $n];
                    a.copy_from_slice(c);
                    <$t>::from_le_bytes(a) as f64
                })
                .collect()
        };
    }
    Ok(match kind {
        MI_INT8 => b.iter().map(|&v| f64::from(v as i8)).collect(),
        MI_UINT8 => b.iter().map(|&v| f64::from(v)).collect(),
        MI_INT16 => le!(i16, 2),
        MI_UINT16 => le!(u16, 2),
        MI_INT32 => le!(i32, 4),
        MI_UINT32 => le!(u32, 4),
        MI_SINGLE => le!(f32, 4),
        MI_DOUBLE => le!(f64, 8),
        MI_INT64 => le!(i64, 8),
        MI_UINT64 => le!(u64, 8),
        other => return Err(format!("unsupported numeric data type {other}")),
    })
}

/// Builds a little-endian v5 file with one uncompressed or compressed double/uint8
/// matrix per entry; tests use it to make inputs.
#[cfg(test)]
pub(crate) fn encode_mat(vars: &[(&str, usize, usize, Vec<f64>, bool)], compress: bool) -> Vec<u8> {
    use std::io::Write;
    fn tag(out: &mut Vec<u8>, kind: u32, data: &[u8]) {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        while out.len() % 8 != 0 {
            out.push(0);
        }
    }
    let mut header = b"MATLAB 5.0 MAT-file, written by ssad tests".to_vec();
    header.resize(116, b' ');
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&0x0100u16.to_le_bytes());
    header.extend_from_slice(b"IM");
    let mut out = header;
    for (name, rows, cols, values, as_u8) in vars {
        let mut body = Vec::new();
        let class: u8 = if *as_u8 { 9 } else { 6 };
        let mut flags = [0u8; 8];
        flags[0] = class;
        tag(&mut body, MI_UINT32, &flags);
        let dims: Vec<u8> = [*rows as i32, *cols as i32]
            .iter()
            .flat_map(|d| d.to_le_bytes())
            .collect();
        tag(&mut body, MI_INT32, &dims);
        tag(&mut body, MI_INT8, name.as_bytes());
        if *as_u8 {
            let data: Vec<u8> = values.iter().map(|&v| v as u8).collect();
            tag(&mut body, MI_UINT8, &data);
        } else {
            let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            tag(&mut body, MI_DOUBLE, &data);
        }
        let mut matrix = Vec::new();
        tag(&mut matrix, MI_MATRIX, &body);
        if compress {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(&matrix).unwrap();
            let z = z.finish().unwrap();
            out.extend_from_slice(&MI_COMPRESSED.to_le_bytes());
            out.extend_from_slice(&(z.len() as u32).to_le_bytes());
            out.extend_from_slice(&z);
        } else {
            out.extend_from_slice(&matrix);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(compress: bool) -> Vec<u8> {
        // X = [[1,2],[3,4],[5,6]] column-major; y = [0,1,0] as uint8.
        encode_mat(
            &[
                ("X", 3, 2, vec![1., 3., 5., 2., 4., 6.], false),
                ("y", 3, 1, vec![0., 1., 0.], true),
            ],
            compress,
        )
    }

    #[test]
    fn reads_plain_and_compressed_elements() {
        for compress in [false, true] {
            let f = parse_mat(&sample(compress), Path::new("s.mat")).unwrap();
            let x = f.get("X").unwrap().to_matrix(Path::new("s.mat")).unwrap();
            assert_eq!(x.row(2), &[5.0, 6.0]);
            assert_eq!(f.get("y").unwrap().values, vec![0., 1., 0.]);
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = sample(true);
        for cut in 0..bytes.len() {
            // A cut exactly between two elements is a valid file with fewer variables.
            if let Ok(f) = parse_mat(&bytes[..cut], Path::new("s.mat")) {
                assert!(f.arrays.len() < 2, "cut {cut}");
            }
        }
    }

    #[test]
    fn rejects_v73_and_big_endian() {
        let mut v73 = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00".to_vec();
        v73.resize(512, b' ');
        v73.extend_from_slice(HDF5_SIGNATURE);
        let err = parse_mat(&v73, Path::new("v73.mat")).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }));
        assert!(err.to_string().contains("v73.mat") && err.to_string().contains("-v7"));

        let mut be = sample(false);
        be[126..128].copy_from_slice(b"MI");
        assert!(matches!(
            parse_mat(&be, Path::new("be.mat")),
            Err(Error::Unsupported { .. })
        ));
    }
}
