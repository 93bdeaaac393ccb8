//! Times GOAD on one ODDS set: `cargo run -p ssad-methods --example goad_odds -- thyroid 3`.
//! Needs `SSAD_DATA_DIR` (the `odds/` folder under it).

use std::time::Instant;

use ssad_core::Seed;
use ssad_methods::{GoadConfig, GoadPreset, Input, Method};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("arrhythmia");
    let seeds: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let root = std::env::var("SSAD_DATA_DIR").map_err(|_| "set SSAD_DATA_DIR")?;
    let data = ssad_data::formats::read_mat_xy(format!("{root}/odds/{name}.mat"))?;
    let split = ssad_data::protocols::goad_tabular(&data)?;
    let config = GoadConfig::preset(GoadPreset::from_name(name)?);
    println!(
        "train {:?} test {:?} contamination {:.4}",
        split.train.shape(),
        split.test.shape(),
        split.test_contamination()
    );
    let knn = ssad_methods::ClassicConfig::default().fit(Input::from(&split.train), Seed(0))?;
    let s = knn.score(Input::from(&split.test))?;
    println!(
        "knn: F1 {:.4} AUROC {:.4}",
        ssad_eval::f1_at_contamination(&s, &split.test_labels)?.f1,
        ssad_eval::auroc(&s, &split.test_labels)?
    );
    for seed in 0..seeds {
        let start = Instant::now();
        let detector = config.fit(Input::from(&split.train), Seed(seed))?;
        let fit = start.elapsed().as_secs_f64();
        let scores = detector.score(Input::from(&split.test))?;
        let (mut sn, mut sa, mut nn, mut na) = (0.0, 0.0, 0.0, 0.0);
        for (s, &l) in scores.iter().zip(&split.test_labels) {
            if l {
                sa += s;
                na += 1.0
            } else {
                sn += s;
                nn += 1.0
            }
        }
        println!("mean score normal {} anomaly {}", sn / nn, sa / na);
        let f1 = ssad_eval::f1_at_contamination(&scores, &split.test_labels)?;
        println!(
            "{name} seed {seed}: AUROC {:.4} F1 {:.4}  fit {fit:.2} s  total {:.2} s",
            ssad_eval::auroc(&scores, &split.test_labels)?,
            f1.f1,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
