//! NumPy `.npy` arrays and `.npz` archives.
//!
//! The `.npy` header is a short Python dict literal (`descr`, `fortran_order`,
//! `shape`); parsing it here takes a hundred lines, whereas the maintained
//! crates either read into their own array types (`npyz`, `ndarray-npy`) or
//! only into tensors (candle), and none names the offending file in its errors.
//! `.npz` is a plain zip of `.npy` members, read with the `zip` crate.
//!
//! Supported: little-endian (or single-byte) booleans, signed and unsigned
//! integers of 1, 2, 4 and 8 bytes, and `f4`/`f8`, in C or Fortran order.
//! Object (pickled) arrays, structured dtypes, `f2`, complex numbers and
//! big-endian data are rejected with [`Error::Unsupported`].

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use ssad_core::Matrix;

use super::{read_file, Labeled};
use crate::error::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// The values of an array, in the element type the file stores.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NpyData {
    /// `b1`.
    Bool(Vec<bool>),
    /// `i1`.
    I8(Vec<i8>),
    /// `i2`.
    I16(Vec<i16>),
    /// `i4`.
    I32(Vec<i32>),
    /// `i8`.
    I64(Vec<i64>),
    /// `u1`.
    U8(Vec<u8>),
    /// `u2`.
    U16(Vec<u16>),
    /// `u4`.
    U32(Vec<u32>),
    /// `u8`.
    U64(Vec<u64>),
    /// `f4`.
    F32(Vec<f32>),
    /// `f8`.
    F64(Vec<f64>),
}

macro_rules! for_each_variant {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            NpyData::Bool($v) => $body,
            NpyData::I8($v) => $body,
            NpyData::I16($v) => $body,
            NpyData::I32($v) => $body,
            NpyData::I64($v) => $body,
            NpyData::U8($v) => $body,
            NpyData::U16($v) => $body,
            NpyData::U32($v) => $body,
            NpyData::U64($v) => $body,
            NpyData::F32($v) => $body,
            NpyData::F64($v) => $body,
        }
    };
}

/// Lossy conversion of one stored element to `f64`/`f32`, used for every dtype.
trait Element: Copy {
    fn to_f64(self) -> f64;
}

macro_rules! element_as {
    ($($t:ty),*) => {$(
        impl Element for $t {
            #[allow(clippy::cast_lossless, clippy::cast_precision_loss)]
            fn to_f64(self) -> f64 { self as f64 }
        }
    )*};
}
element_as!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

impl Element for bool {
    fn to_f64(self) -> f64 {
        f64::from(u8::from(self))
    }
}

impl NpyData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        for_each_variant!(self, v => v.len())
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The numpy dtype string of the elements (`"<f8"`, `"|u1"`...).
    pub fn dtype(&self) -> &'static str {
        match self {
            NpyData::Bool(_) => "|b1",
            NpyData::I8(_) => "|i1",
            NpyData::I16(_) => "<i2",
            NpyData::I32(_) => "<i4",
            NpyData::I64(_) => "<i8",
            NpyData::U8(_) => "|u1",
            NpyData::U16(_) => "<u2",
            NpyData::U32(_) => "<u4",
            NpyData::U64(_) => "<u8",
            NpyData::F32(_) => "<f4",
            NpyData::F64(_) => "<f8",
        }
    }

    /// All elements converted to `f64`, in storage order (64-bit integers above 2^53 round).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        for_each_variant!(self, v => v.iter().map(|e| e.to_f64()).collect())
    }

    fn get_f64(&self, i: usize) -> f64 {
        for_each_variant!(self, v => v[i].to_f64())
    }
}

/// One array read from a `.npy` file or `.npz` member.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The dimensions, outermost first, exactly as numpy reports `a.shape`.
    pub shape: Vec<usize>,
    /// Whether `data` is stored column-major (numpy's `fortran_order`).
    pub fortran_order: bool,
    /// The elements in storage order.
    pub data: NpyData,
}

impl NpyArray {
    /// The array as a row-major `f32` matrix: `(n,)` becomes `n x 1`; `(n, d1, d2...)`
    /// becomes `n x (d1*d2*...)` with the trailing axes flattened in C order.
    ///
    /// `what` names the array in error messages.
    pub fn to_matrix(&self, what: &Path) -> Result<Matrix> {
        let (rows, cols) = match self.shape.as_slice() {
            [] => return Err(Error::format(what, "a 0-d array is not a feature matrix")),
            [n] => (*n, 1),
            [n, rest @ ..] => (*n, rest.iter().product()),
        };
        if rows.checked_mul(cols) != Some(self.data.len()) {
            return Err(Error::format(
                what,
                format!(
                    "shape {:?} does not match {} values",
                    self.shape,
                    self.data.len()
                ),
            ));
        }
        let mut out = vec![0.0f32; rows * cols];
        if self.fortran_order && self.shape.len() > 1 {
            if self.shape.len() > 2 {
                return Err(Error::unsupported(
                    what,
                    "Fortran-order arrays with more than 2 dimensions",
                ));
            }
            for_each_variant!(&self.data, v => transpose_into(v, rows, cols, &mut out));
        } else {
            fill_f32(&self.data, &mut out);
        }
        Ok(Matrix::new(out, rows, cols)?)
    }

    /// The array as `0`/`1` anomaly labels (`true` where the value is 1).
    ///
    /// Needs a vector or a single column or row; any value other than 0 or 1 is a
    /// [`Error::Format`] naming `what`, since a silently mis-read label corrupts every metric.
    pub fn to_anomaly_labels(&self, what: &Path) -> Result<Vec<bool>> {
        let n = self.data.len();
        let is_vector = self.shape.iter().filter(|&&d| d != 1).count() <= 1;
        if !is_vector {
            return Err(Error::format(
                what,
                format!("labels must be a vector, got shape {:?}", self.shape),
            ));
        }
        binary_labels((0..n).map(|i| self.data.get_f64(i)), what)
    }
}

/// Maps 0 to `false` and 1 to `true`; anything else is an error naming the first bad index.
pub(crate) fn binary_labels(values: impl Iterator<Item = f64>, what: &Path) -> Result<Vec<bool>> {
    values
        .enumerate()
        .map(|(i, v)| {
            if v == 0.0 {
                Ok(false)
            } else if v == 1.0 {
                Ok(true)
            } else {
                Err(Error::format(
                    what,
                    format!("label {v} at index {i}; anomaly labels must be 0 or 1"),
                ))
            }
        })
        .collect()
}

/// Writes column-major `src` (`rows x cols`) into row-major `out`.
#[allow(clippy::cast_possible_truncation)]
fn transpose_into<T: Element>(src: &[T], rows: usize, cols: usize, out: &mut [f32]) {
    // Column j of the file is contiguous; write it down the rows.
    for (j, column) in src.chunks_exact(rows.max(1)).take(cols).enumerate() {
        for (i, &e) in column.iter().enumerate() {
            out[i * cols + j] = e.to_f64() as f32;
        }
    }
}

#[allow(clippy::cast_possible_truncation)]
fn fill_f32(data: &NpyData, out: &mut [f32]) {
    for_each_variant!(data, v => {
        for (o, e) in out.iter_mut().zip(v) {
            *o = e.to_f64() as f32;
        }
    })
}

/// Reads a `.npy` file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    parse_npy(&read_file(path)?, path)
}

/// Parses the bytes of a `.npy` file; `origin` names them in errors.
pub fn parse_npy(bytes: &[u8], origin: &Path) -> Result<NpyArray> {
    let bad = |reason: String| Error::format(origin, reason);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a .npy file (missing \\x93NUMPY magic)".into()));
    }
    let major = bytes[6];
    let (header_len, header_start): (usize, usize) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated header".into()));
            }
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (
                usize::try_from(n).map_err(|_| bad("header too long".into()))?,
                12,
            )
        }
        v => {
            return Err(Error::unsupported(
                origin,
                format!(".npy format version {v}"),
            ))
        }
    };
    let header_end = header_start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("truncated header".into()))?;
    // Version 3 headers are UTF-8, earlier ones latin-1; the keys we read are ASCII either way.
    let header = String::from_utf8_lossy(&bytes[header_start..header_end]);
    let header = Header::parse(&header).map_err(|r| bad(format!("bad header: {r}")))?;
    let dtype = Dtype::parse(&header.descr, origin)?;

    let count = header
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad("shape overflows".into()))?;
    let payload = &bytes[header_end..];
    let needed = count
        .checked_mul(dtype.size)
        .ok_or_else(|| bad("shape overflows".into()))?;
    if payload.len() < needed {
        return Err(bad(format!(
            "truncated data: shape {:?} of {} needs {needed} bytes, found {}",
            header.shape,
            header.descr,
            payload.len()
        )));
    }
    Ok(NpyArray {
        shape: header.shape,
        fortran_order: header.fortran_order,
        data: dtype.decode(&payload[..needed]),
    })
}

/// Reads every `.npy` member of an `.npz` archive, keyed by member name without `.npy`.
pub fn read_npz(path: impl AsRef<Path>) -> Result<BTreeMap<String, NpyArray>> {
    let path = path.as_ref();
    let mut archive = open_npz(path)?;
    let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    let mut out = BTreeMap::new();
    for name in names {
        if let Some(key) = name.strip_suffix(".npy") {
            let array = read_member(&mut archive, path, &name)?;
            out.insert(key.to_owned(), array);
        }
    }
    Ok(out)
}

/// Reads one array (`name`, without `.npy`) from an `.npz` archive.
pub fn read_npz_array(path: impl AsRef<Path>, name: &str) -> Result<NpyArray> {
    let path = path.as_ref();
    let mut archive = open_npz(path)?;
    read_member(&mut archive, path, &format!("{name}.npy"))
}

/// Reads the `X` (features) and `y` (0/1 anomaly labels) arrays of an ADBench-style `.npz`.
pub fn read_npz_xy(path: impl AsRef<Path>) -> Result<Labeled> {
    let path = path.as_ref();
    let mut archive = open_npz(path)?;
    let x = read_member(&mut archive, path, "X.npy")?;
    let y = read_member(&mut archive, path, "y.npy")?;
    let x = x.to_matrix(&path.join("X.npy"))?;
    let y = y.to_anomaly_labels(&path.join("y.npy"))?;
    Labeled::new(x, y, path)
}

fn open_npz(path: &Path) -> Result<zip::ZipArchive<std::fs::File>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    zip::ZipArchive::new(file).map_err(|e| zip_error(path, e))
}

fn zip_error(path: &Path, e: zip::result::ZipError) -> Error {
    match e {
        zip::result::ZipError::Io(source) => Error::io(path, source),
        other => Error::format(path, format!("bad .npz (zip) archive: {other}")),
    }
}

fn read_member(
    archive: &mut zip::ZipArchive<std::fs::File>,
    path: &Path,
    member: &str,
) -> Result<NpyArray> {
    let mut entry = archive.by_name(member).map_err(|e| match e {
        zip::result::ZipError::FileNotFound => {
            Error::format(path, format!("the archive has no member `{member}`"))
        }
        other => zip_error(path, other),
    })?;
    let capacity = usize::try_from(entry.size()).unwrap_or(0).min(1 << 30);
    let mut bytes = Vec::with_capacity(capacity);
    // A corrupt deflate stream or CRC mismatch surfaces here as an io::Error.
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| Error::format(path, format!("cannot decompress member `{member}`: {e}")))?;
    parse_npy(&bytes, &path.join(member))
}

/// The three keys of a `.npy` header.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

impl Header {
    /// Parses `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
    fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut p = Literal {
            s: text.trim().as_bytes(),
            i: 0,
        };
        p.expect(b'{')?;
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        loop {
            p.skip_ws();
            if p.eat(b'}') {
                break;
            }
            let key = p.string()?;
            p.skip_ws();
            p.expect(b':')?;
            p.skip_ws();
            match key.as_str() {
                "descr" => {
                    if p.peek() == Some(b'[') {
                        return Err("structured dtypes are not supported".into());
                    }
                    descr = Some(p.string()?);
                }
                "fortran_order" => fortran = Some(p.boolean()?),
                "shape" => shape = Some(p.tuple()?),
                other => return Err(format!("unknown key `{other}`")),
            }
            p.skip_ws();
            if !p.eat(b',') {
                p.skip_ws();
                p.expect(b'}')?;
                break;
            }
        }
        Ok(Header {
            descr: descr.ok_or("missing `descr`")?,
            fortran_order: fortran.ok_or("missing `fortran_order`")?,
            shape: shape.ok_or("missing `shape`")?,
        })
    }
}

/// A cursor over the tiny subset of Python literals `.npy` headers use.
struct Literal<'a> {
    s: &'a [u8],
    i: usize,
}

impl Literal<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", c as char, self.i))
        }
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a string at byte {}", self.i)),
        };
        self.i += 1;
        let start = self.i;
        while self.peek().is_some_and(|c| c != quote) {
            self.i += 1;
        }
        let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.expect(quote)?;
        Ok(s)
    }

    fn boolean(&mut self) -> std::result::Result<bool, String> {
        let rest = &self.s[self.i..];
        if rest.starts_with(b"True") {
            self.i += 4;
            Ok(true)
        } else if rest.starts_with(b"False") {
            self.i += 5;
            Ok(false)
        } else {
            Err(format!("expected True or False at byte {}", self.i))
        }
    }

    fn tuple(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            // numpy may print Python 2 longs as `3L`.
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            let d = digits
                .parse::<usize>()
                .map_err(|_| format!("bad dimension at byte {start}"))?;
            self.eat(b'L');
            dims.push(d);
            self.skip_ws();
            if !self.eat(b',') {
                self.skip_ws();
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Uint,
    Float,
}

struct Dtype {
    kind: Kind,
    size: usize,
}

impl Dtype {
    fn parse(descr: &str, origin: &Path) -> Result<Self> {
        let unsupported = |why: &str| Error::unsupported(origin, format!("dtype `{descr}`: {why}"));
        let bytes = descr.as_bytes();
        if bytes.len() < 2 {
            return Err(unsupported("unrecognised"));
        }
        let (order, kind, size) = match bytes[0] {
            b'<' | b'>' | b'|' | b'=' => (bytes[0], bytes[1], descr.get(2..)),
            _ => (b'|', bytes[0], descr.get(1..)),
        };
        let size: usize = size
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| unsupported("unrecognised"))?;
        let kind = match kind {
            b'b' if size == 1 => Kind::Bool,
            b'i' if matches!(size, 1 | 2 | 4 | 8) => Kind::Int,
            b'u' if matches!(size, 1 | 2 | 4 | 8) => Kind::Uint,
            b'f' if matches!(size, 4 | 8) => Kind::Float,
            b'O' => return Err(unsupported("object (pickled) arrays are never loaded")),
            _ => return Err(unsupported("only bool, integer, f4 and f8 arrays are read")),
        };
        if order == b'>' && size > 1 {
            return Err(unsupported(
                "big-endian data; re-save with `arr.astype(arr.dtype.newbyteorder('<'))`",
            ));
        }
        Ok(Dtype { kind, size })
    }

    fn decode(&self, b: &[u8]) -> NpyData {
        macro_rules! le {
            ($t:ty, $n:expr) => {
                b.chunks_exact($n)
                    .map(|c| {
                        let mut a = [0u8; $n];
                        a.copy_from_slice(c);
                        <$t>::from_le_bytes(a)
                    })
                    .collect()
            };
        }
        match (self.kind, self.size) {
            (Kind::Bool, _) => NpyData::Bool(b.iter().map(|&v| v != 0).collect()),
            (Kind::Int, 1) => NpyData::I8(b.iter().map(|&v| i8::from_le_bytes([v])).collect()),
            (Kind::Int, 2) => NpyData::I16(le!(i16, 2)),
            (Kind::Int, 4) => NpyData::I32(le!(i32, 4)),
            (Kind::Int, _) => NpyData::I64(le!(i64, 8)),
            (Kind::Uint, 1) => NpyData::U8(b.to_vec()),
            (Kind::Uint, 2) => NpyData::U16(le!(u16, 2)),
            (Kind::Uint, 4) => NpyData::U32(le!(u32, 4)),
            (Kind::Uint, _) => NpyData::U64(le!(u64, 8)),
            (Kind::Float, 4) => NpyData::F32(le!(f32, 4)),
            (Kind::Float, _) => NpyData::F64(le!(f64, 8)),
        }
    }
}

/// Encodes a `.npy` file (version 1.0); used by tests and fixtures to build inputs.
#[cfg(test)]
pub(crate) fn encode_npy(descr: &str, fortran: bool, shape: &[usize], payload: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let fortran = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(
        &u16::try_from(header.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64_bytes(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn fortran_and_c_order_give_the_same_matrix() {
        // The 2x3 matrix [[1,2,3],[4,5,6]].
        let c = encode_npy("<f8", false, &[2, 3], &f64_bytes(&[1., 2., 3., 4., 5., 6.]));
        let f = encode_npy("<f8", true, &[2, 3], &f64_bytes(&[1., 4., 2., 5., 3., 6.]));
        let p = Path::new("t.npy");
        let mc = parse_npy(&c, p).unwrap().to_matrix(p).unwrap();
        let mf = parse_npy(&f, p).unwrap().to_matrix(p).unwrap();
        assert_eq!(mc, mf);
        assert_eq!(mc.row(1), &[4.0, 5.0, 6.0]);
    }

    #[test]
    fn reads_every_integer_width() {
        let p = Path::new("t.npy");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("|u1", vec![1, 255]),
            ("|i1", vec![1, 0xff]),
            (
                "<i2",
                [1i16, -2].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (
                "<u2",
                [1u16, 65535].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (
                "<i4",
                [1i32, -2].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (
                "<i8",
                [1i64, -2].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (
                "<f4",
                [1f32, -2.5].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
        ];
        for (descr, payload) in cases {
            let a = parse_npy(&encode_npy(descr, false, &[2], &payload), p).unwrap();
            let m = a.to_matrix(p).unwrap();
            assert_eq!(m.shape(), (2, 1), "{descr}");
            assert_eq!(m.row(0), &[1.0], "{descr}");
            assert!(m.row(1)[0] != 1.0, "{descr}");
        }
    }

    #[test]
    fn rejects_objects_big_endian_and_structured() {
        let p = Path::new("t.npy");
        for descr in ["|O", ">f8", ">i4", "<c16", "<f2"] {
            let bytes = encode_npy(descr, false, &[1], &[0; 16]);
            assert!(
                matches!(parse_npy(&bytes, p), Err(Error::Unsupported { .. })),
                "{descr}"
            );
        }
        let structured = b"\x93NUMPY\x01\x00\x3c\x00{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }";
        assert!(matches!(
            parse_npy(structured, p),
            Err(Error::Format { .. })
        ));
    }

    #[test]
    fn truncated_payload_and_header_are_format_errors() {
        let p = Path::new("short.npy");
        let full = encode_npy("<f8", false, &[4], &f64_bytes(&[1., 2., 3., 4.]));
        for cut in [3, 9, 20, full.len() - 1] {
            let err = parse_npy(&full[..cut], p).unwrap_err();
            assert!(matches!(err, Error::Format { .. }), "cut {cut}: {err}");
            assert!(err.to_string().contains("short.npy"));
        }
    }

    #[test]
    fn labels_must_be_zero_or_one() {
        let p = Path::new("y.npy");
        let ok = parse_npy(&encode_npy("|u1", false, &[3], &[0, 1, 0]), p).unwrap();
        assert_eq!(ok.to_anomaly_labels(p).unwrap(), vec![false, true, false]);
        let bad = parse_npy(&encode_npy("|u1", false, &[3], &[0, 2, 0]), p).unwrap();
        assert!(bad.to_anomaly_labels(p).is_err());
        let matrix = parse_npy(&encode_npy("|u1", false, &[2, 2], &[0, 1, 0, 1]), p).unwrap();
        assert!(matrix.to_anomaly_labels(p).is_err());
    }
}
