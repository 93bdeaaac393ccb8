//! KDD Cup 1999 connection records (`kddcup.data_10_percent.gz`).
//!
//! Each line holds 41 features and a label such as `normal.` or `smurf.`. The
//! seven symbolic features (protocol_type, service, flag, land, logged_in,
//! is_host_login, is_guest_login) are one-hot encoded the way GOAD's
//! `data_loader.py` does it with `pd.get_dummies`: the 34 continuous columns
//! first, in file order, then one indicator column per category, symbolic
//! feature by symbolic feature in file order, categories **sorted** (numerically
//! when every category is a number, else by bytes) and only those that occur
//! in the data. On the 10% file that gives 34 + 87 = 121 columns.
//!
//! Lines are parsed in parallel chunks with no per-field allocation; each chunk
//! interns its categories locally and the dictionaries are merged afterwards.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;
use rayon::prelude::*;
use ssad_core::Matrix;

use super::read_file;
use crate::error::{Error, Result};

/// Feature names of the 41 KDD fields, in file order (from `kddcup.names`).
pub const FEATURE_NAMES: [&str; 41] = [
    "duration",
    "protocol_type",
    "service",
    "flag",
    "src_bytes",
    "dst_bytes",
    "land",
    "wrong_fragment",
    "urgent",
    "hot",
    "num_failed_logins",
    "logged_in",
    "num_compromised",
    "root_shell",
    "su_attempted",
    "num_root",
    "num_file_creations",
    "num_shells",
    "num_access_files",
    "num_outbound_cmds",
    "is_host_login",
    "is_guest_login",
    "count",
    "srv_count",
    "serror_rate",
    "srv_serror_rate",
    "rerror_rate",
    "srv_rerror_rate",
    "same_srv_rate",
    "diff_srv_rate",
    "srv_diff_host_rate",
    "dst_host_count",
    "dst_host_srv_count",
    "dst_host_same_srv_rate",
    "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate",
    "dst_host_srv_diff_host_rate",
    "dst_host_serror_rate",
    "dst_host_srv_serror_rate",
    "dst_host_rerror_rate",
    "dst_host_srv_rerror_rate",
];

/// Indices (into [`FEATURE_NAMES`]) of the symbolic features.
pub const SYMBOLIC: [usize; 7] = [1, 2, 3, 6, 11, 20, 21];

const N_FIELDS: usize = 42;
const N_CONTINUOUS: usize = 34;
const CHUNK_LINES: usize = 16_384;

/// The KDD records with symbolic features one-hot encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Kdd {
    /// Features: 34 continuous columns then the one-hot columns.
    pub x: Matrix,
    /// Column names: feature names, and `feature_category` for indicators (as pandas names them).
    pub columns: Vec<String>,
    /// Per column, `true` for the continuous features (the ones GOAD z-scores).
    pub continuous: Vec<bool>,
    /// The distinct labels, sorted (`back.`, ..., `normal.`, ...).
    pub label_names: Vec<String>,
    /// Per row, an index into `label_names`.
    pub labels: Vec<u16>,
}

impl Kdd {
    /// Per row, `true` where the label is `normal.`.
    pub fn is_normal(&self) -> Vec<bool> {
        match self.label_names.iter().position(|l| l == "normal.") {
            Some(n) => self.labels.iter().map(|&l| usize::from(l) == n).collect(),
            None => vec![false; self.labels.len()],
        }
    }
}

/// Reads a KDD Cup 99 file, gzip-compressed or plain (detected from the first bytes).
pub fn read_kdd(path: impl AsRef<Path>) -> Result<Kdd> {
    let path = path.as_ref();
    let raw = read_file(path)?;
    let text = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 36);
        MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("corrupt gzip stream: {e}")))?;
        out
    } else {
        raw
    };
    parse_kdd(&text, path)
}

/// One chunk's rows, with categories interned in chunk-local dictionaries.
struct Chunk<'a> {
    rows: usize,
    continuous: Vec<f32>,
    symbols: Vec<u32>,
    dicts: [Vec<&'a [u8]>; 7],
    labels: Vec<u32>,
    label_dict: Vec<&'a [u8]>,
}

/// Parses KDD text; `origin` names it in errors.
pub fn parse_kdd(text: &[u8], origin: &Path) -> Result<Kdd> {
    let lines: Vec<(usize, &[u8])> = text
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return Err(Error::format(origin, "no records"));
    }
    let chunks: Vec<Chunk<'_>> = lines
        .par_chunks(CHUNK_LINES)
        .map(parse_chunk)
        .collect::<std::result::Result<_, String>>()
        .map_err(|reason| Error::format(origin, reason))?;

    // Merge the chunk dictionaries into sorted global ones.
    let mut categories: [Vec<&[u8]>; 7] = Default::default();
    for (s, global) in categories.iter_mut().enumerate() {
        let mut all: Vec<&[u8]> = chunks
            .iter()
            .flat_map(|c| c.dicts[s].iter().copied())
            .collect();
        sort_categories(&mut all);
        all.dedup();
        *global = all;
    }
    let mut label_names: Vec<&[u8]> = chunks
        .iter()
        .flat_map(|c| c.label_dict.iter().copied())
        .collect();
    label_names.sort_unstable();
    label_names.dedup();
    if label_names.len() > usize::from(u16::MAX) {
        return Err(Error::format(origin, "more than 65535 distinct labels"));
    }

    let mut offsets = [0usize; 7];
    let mut width = N_CONTINUOUS;
    for (s, cats) in categories.iter().enumerate() {
        offsets[s] = width;
        width += cats.len();
    }
    let mut columns: Vec<String> = (0..41)
        .filter(|i| !SYMBOLIC.contains(i))
        .map(|i| FEATURE_NAMES[i].to_owned())
        .collect();
    for (s, cats) in categories.iter().enumerate() {
        for c in cats {
            columns.push(format!(
                "{}_{}",
                FEATURE_NAMES[SYMBOLIC[s]],
                String::from_utf8_lossy(c)
            ));
        }
    }
    let mut continuous = vec![false; width];
    continuous[..N_CONTINUOUS].fill(true);

    let n: usize = chunks.iter().map(|c| c.rows).sum();
    let mut data = vec![0.0f32; n * width];
    let mut labels = vec![0u16; n];
    // Each chunk fills its own disjoint rows of the output.
    let mut data_parts = Vec::with_capacity(chunks.len());
    let mut label_parts = Vec::with_capacity(chunks.len());
    let (mut data_rest, mut label_rest) = (data.as_mut_slice(), labels.as_mut_slice());
    for c in &chunks {
        let (d, dr) = data_rest.split_at_mut(c.rows * width);
        let (l, lr) = label_rest.split_at_mut(c.rows);
        data_parts.push(d);
        label_parts.push(l);
        data_rest = dr;
        label_rest = lr;
    }
    chunks
        .par_iter()
        .zip(data_parts)
        .zip(label_parts)
        .for_each(|((c, out), out_labels)| {
            let maps: Vec<Vec<usize>> = (0..7)
                .map(|s| {
                    c.dicts[s]
                        .iter()
                        .map(|v| offsets[s] + position(&categories[s], v))
                        .collect()
                })
                .collect();
            let label_map: Vec<u16> = c
                .label_dict
                .iter()
                .map(|v| u16::try_from(position(&label_names, v)).unwrap_or(u16::MAX))
                .collect();
            for r in 0..c.rows {
                let row = &mut out[r * width..(r + 1) * width];
                row[..N_CONTINUOUS]
                    .copy_from_slice(&c.continuous[r * N_CONTINUOUS..(r + 1) * N_CONTINUOUS]);
                for s in 0..7 {
                    row[maps[s][c.symbols[r * 7 + s] as usize]] = 1.0;
                }
                out_labels[r] = label_map[c.labels[r] as usize];
            }
        });

    Ok(Kdd {
        x: Matrix::new(data, n, width)?,
        columns,
        continuous,
        label_names: label_names
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect(),
        labels,
    })
}

/// Index of `v` in the sorted, deduplicated `sorted` (present by construction).
fn position(sorted: &[&[u8]], v: &[u8]) -> usize {
    sorted.iter().position(|c| *c == v).unwrap_or(0)
}

/// Sorts like pandas sorts a column's categories: numerically if all are numbers.
fn sort_categories(cats: &mut [&[u8]]) {
    let numeric: Option<Vec<f64>> = cats.iter().map(|c| parse_f64(c)).collect();
    if numeric.is_some() {
        cats.sort_by(|a, b| {
            let (x, y) = (parse_f64(a).unwrap_or(0.0), parse_f64(b).unwrap_or(0.0));
            x.total_cmp(&y).then_with(|| a.cmp(b))
        });
    } else {
        cats.sort_unstable();
    }
}

fn parse_f64(b: &[u8]) -> Option<f64> {
    std::str::from_utf8(b).ok()?.trim().parse().ok()
}

fn parse_chunk<'a>(lines: &[(usize, &'a [u8])]) -> std::result::Result<Chunk<'a>, String> {
    let mut chunk = Chunk {
        rows: lines.len(),
        continuous: Vec::with_capacity(lines.len() * N_CONTINUOUS),
        symbols: Vec::with_capacity(lines.len() * 7),
        dicts: Default::default(),
        labels: Vec::with_capacity(lines.len()),
        label_dict: Vec::new(),
    };
    let mut lookup: [HashMap<&'a [u8], u32>; 7] = Default::default();
    let mut label_lookup: HashMap<&'a [u8], u32> = HashMap::new();
    let intern = |map: &mut HashMap<&'a [u8], u32>, dict: &mut Vec<&'a [u8]>, v: &'a [u8]| {
        *map.entry(v).or_insert_with(|| {
            dict.push(v);
            u32::try_from(dict.len() - 1).unwrap_or(u32::MAX)
        })
    };
    for &(line_no, line) in lines {
        let mut fields = 0;
        let mut symbolic = 0;
        for (i, field) in line.split(|&b| b == b',').enumerate() {
            fields = i + 1;
            if i >= N_FIELDS {
                break;
            }
            if i == N_FIELDS - 1 {
                let id = intern(&mut label_lookup, &mut chunk.label_dict, field);
                chunk.labels.push(id);
            } else if SYMBOLIC.get(symbolic) == Some(&i) {
                let id = intern(&mut lookup[symbolic], &mut chunk.dicts[symbolic], field);
                chunk.symbols.push(id);
                symbolic += 1;
            } else {
                let v = std::str::from_utf8(field)
                    .ok()
                    .and_then(|s| s.parse::<f32>().ok())
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        format!(
                            "line {line_no}: field {} (`{}`) is not a finite number",
                            i + 1,
                            String::from_utf8_lossy(field)
                        )
                    })?;
                chunk.continuous.push(v);
            }
        }
        if fields != N_FIELDS {
            return Err(format!(
                "line {line_no}: {fields} fields, expected {N_FIELDS} (41 features and a label)"
            ));
        }
    }
    Ok(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROWS: &str = "0,tcp,http,SF,181,5450,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,8,8,0.00,0.00,0.00,0.00,1.00,0.00,0.00,9,9,1.00,0.00,0.11,0.00,0.00,0.00,0.00,0.00,normal.
0,icmp,ecr_i,SF,1032,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,511,511,0.00,0.00,0.00,0.00,1.00,0.00,0.00,255,255,1.00,0.00,1.00,0.00,0.00,0.00,0.00,0.00,smurf.
2,udp,private,REJ,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,1,0.00,0.00,1.00,1.00,1.00,0.00,0.00,1,1,1.00,0.00,1.00,0.00,0.00,0.00,1.00,1.00,neptune.
";

    #[test]
    fn one_hot_columns_are_sorted_per_feature() {
        let k = parse_kdd(ROWS.as_bytes(), Path::new("k")).unwrap();
        // 34 continuous + protocol 3 + service 3 + flag 2 + land 2 + logged_in 2 + host 1 + guest 2.
        assert_eq!(k.x.cols(), 34 + 3 + 3 + 2 + 2 + 2 + 1 + 2);
        assert_eq!(
            &k.columns[34..37],
            [
                "protocol_type_icmp",
                "protocol_type_tcp",
                "protocol_type_udp"
            ]
        );
        assert_eq!(k.columns[37], "service_ecr_i");
        assert_eq!(k.label_names, ["neptune.", "normal.", "smurf."]);
        assert_eq!(k.is_normal(), vec![true, false, false]);
        let row0 = k.x.row(0);
        assert_eq!(row0[0], 0.0);
        assert_eq!(row0[1], 181.0); // src_bytes is the 2nd continuous column
        assert_eq!(row0.iter().skip(34).filter(|&&v| v == 1.0).count(), 7);
        assert_eq!(row0[35], 1.0); // tcp
        assert!(k.continuous[..34].iter().all(|&c| c) && !k.continuous[34]);
    }

    #[test]
    fn short_lines_and_bad_numbers_name_the_line() {
        let short = "0,tcp,http\n";
        let err = parse_kdd(short.as_bytes(), Path::new("k.csv")).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let bad = ROWS.replacen("181", "1x1", 1);
        let err = parse_kdd(bad.as_bytes(), Path::new("k.csv")).unwrap_err();
        assert!(err.to_string().contains("not a finite number"), "{err}");
    }
}
