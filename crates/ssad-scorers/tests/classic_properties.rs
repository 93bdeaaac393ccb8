//! Property tests of the classic detectors: invariances that hold exactly (or
//! to rounding) whatever the data.

use proptest::prelude::*;
use ssad_core::Matrix;
use ssad_scorers::{
    CopodConfig, EcodConfig, FittedScorer, IForestConfig, KnnConfig, LofConfig, Scorer,
};

/// Small matrices on a coarse grid (exact in f32, with ties) of 12–40 rows.
fn matrix() -> impl Strategy<Value = Matrix> {
    (12usize..40, 1usize..5).prop_flat_map(|(rows, cols)| {
        prop::collection::vec((-40i32..40).prop_map(|v| v as f32 * 0.25), rows * cols)
            .prop_map(move |v| Matrix::new(v, rows, cols).expect("shape"))
    })
}

fn scaled(x: &Matrix, by: f32) -> Matrix {
    Matrix::new(
        x.as_slice().iter().map(|v| v * by).collect(),
        x.rows(),
        x.cols(),
    )
    .expect("shape")
}

fn reversed(x: &Matrix) -> Matrix {
    let idx: Vec<usize> = (0..x.rows()).rev().collect();
    x.view().select_rows(&idx).expect("rows")
}

fn close(a: &[f64], b: &[f64], rtol: f64) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (x - y).abs() <= rtol * x.abs().max(y.abs()).max(1e-12))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn knn_is_order_free_and_scales_with_the_data(x in matrix()) {
        let c = KnnConfig { n_neighbors: 3, ..KnnConfig::default() };
        let (_, s) = c.fit_score(x.view()).unwrap();
        let (_, r) = c.fit_score(reversed(&x).view()).unwrap();
        let back: Vec<f64> = r.iter().rev().copied().collect();
        prop_assert_eq!(&s, &back);
        let (_, twice) = c.fit_score(scaled(&x, 2.0).view()).unwrap();
        let doubled: Vec<f64> = s.iter().map(|v| v * 2.0).collect();
        prop_assert!(close(&twice, &doubled, 1e-12));
    }

    #[test]
    fn lof_ignores_the_scale(x in matrix()) {
        let c = LofConfig { n_neighbors: 5, ..LofConfig::default() };
        let (_, s) = c.fit_score(x.view()).unwrap();
        let (_, t) = c.fit_score(scaled(&x, 4.0).view()).unwrap();
        // Only the 1e-10 added to reachability distances is not scaled.
        prop_assert!(close(&s, &t, 1e-6) || s.iter().any(|v| *v > 1e6));
    }

    #[test]
    fn ecdf_detectors_depend_only_on_ranks(x in matrix()) {
        for (a, b) in [
            (EcodConfig::default().fit_score(x.view()).unwrap().1,
             EcodConfig::default().fit_score(scaled(&x, 3.0).view()).unwrap().1),
            (CopodConfig::default().fit_score(x.view()).unwrap().1,
             CopodConfig::default().fit_score(scaled(&x, 3.0).view()).unwrap().1),
        ] {
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn iforest_scores_are_in_the_unit_interval(x in matrix(), seed in 0u64..1000) {
        let c = IForestConfig { n_estimators: 20, seed, ..IForestConfig::default() };
        let f = c.fit(x.view()).unwrap();
        let s = f.score(x.view()).unwrap();
        prop_assert!(s.iter().all(|&v| v > 0.0 && v <= 1.0));
    }
}
