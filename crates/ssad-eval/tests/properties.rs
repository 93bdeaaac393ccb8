//! Property tests: rank invariance, label/score symmetry, and agreement with brute force.

use proptest::prelude::*;
use ssad_eval::{auroc, average_precision, fpr_at_tpr, roc_curve};

/// Small integer scores (many ties) with at least one label of each class.
fn labelled_ints(max_len: usize) -> impl Strategy<Value = (Vec<i32>, Vec<bool>)> {
    (2..=max_len)
        .prop_flat_map(|n| {
            (
                prop::collection::vec(-50i32..=50, n),
                prop::collection::vec(any::<bool>(), n),
            )
        })
        .prop_filter("both classes", |(_, labels)| {
            labels.iter().any(|&l| l) && labels.iter().any(|&l| !l)
        })
}

fn labelled_floats(max_len: usize) -> impl Strategy<Value = (Vec<f64>, Vec<bool>)> {
    (2..=max_len)
        .prop_flat_map(|n| {
            (
                prop::collection::vec(-1e6f64..1e6, n),
                prop::collection::vec(any::<bool>(), n),
            )
        })
        .prop_filter("both classes", |(_, labels)| {
            labels.iter().any(|&l| l) && labels.iter().any(|&l| !l)
        })
}

/// Fraction of (anomaly, normal) pairs ranked correctly, ties counting one half.
fn pairwise_auroc(scores: &[f64], labels: &[bool]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (a, _) in scores.iter().zip(labels).filter(|(_, &l)| l) {
        for (n, _) in scores.iter().zip(labels).filter(|(_, &l)| !l) {
            pairs += 1.0;
            if a > n {
                wins += 1.0;
            } else if a == n {
                wins += 0.5;
            }
        }
    }
    wins / pairs
}

proptest! {
    #[test]
    fn auroc_equals_pairwise_mann_whitney((scores, labels) in labelled_ints(40)) {
        let scores: Vec<f64> = scores.into_iter().map(f64::from).collect();
        let ours = auroc(&scores, &labels).unwrap();
        prop_assert!((ours - pairwise_auroc(&scores, &labels)).abs() < 1e-12);
    }

    #[test]
    fn auroc_is_invariant_under_strictly_increasing_maps((scores, labels) in labelled_ints(60)) {
        // Integer inputs keep these maps strictly increasing in floating point (no new ties).
        let base: Vec<f64> = scores.iter().map(|&s| f64::from(s)).collect();
        let reference = auroc(&base, &labels).unwrap();
        let maps: [fn(f64) -> f64; 3] = [f64::exp, |x| x * x * x + 5.0 * x, f64::atan];
        for map in maps {
            let mapped: Vec<f64> = base.iter().map(|&x| map(x)).collect();
            prop_assert_eq!(auroc(&mapped, &labels).unwrap(), reference);
        }
    }

    #[test]
    fn negating_scores_complements_auroc((scores, labels) in labelled_floats(80)) {
        let negated: Vec<f64> = scores.iter().map(|s| -s).collect();
        let sum = auroc(&scores, &labels).unwrap() + auroc(&negated, &labels).unwrap();
        prop_assert!((sum - 1.0).abs() < 1e-12);
    }

    #[test]
    fn roc_curve_is_monotone_and_its_area_is_auroc((scores, labels) in labelled_ints(60)) {
        let curve = roc_curve(&scores, &labels).unwrap();
        prop_assert!(curve.fpr.windows(2).all(|w| w[0] <= w[1]));
        prop_assert!(curve.tpr.windows(2).all(|w| w[0] <= w[1]));
        prop_assert!(curve.thresholds.windows(2).all(|w| w[0] > w[1]));
        prop_assert_eq!(*curve.fpr.last().unwrap(), 1.0);
        prop_assert_eq!(*curve.tpr.last().unwrap(), 1.0);
        prop_assert!((curve.area() - auroc(&scores, &labels).unwrap()).abs() < 1e-12);
    }

    #[test]
    fn fpr_at_tpr_is_the_smallest_fpr_reaching_the_target(
        (scores, labels) in labelled_ints(60),
        target in 0.01f64..=1.0,
    ) {
        let curve = roc_curve(&scores, &labels).unwrap();
        let best = curve
            .fpr
            .iter()
            .zip(&curve.tpr)
            .filter(|(_, &tpr)| tpr >= target)
            .map(|(&fpr, _)| fpr)
            .fold(f64::INFINITY, f64::min);
        prop_assert_eq!(fpr_at_tpr(&scores, &labels, target).unwrap(), best);
    }

    #[test]
    fn average_precision_is_a_probability_at_least_the_base_rate(
        (scores, labels) in labelled_floats(80),
    ) {
        let ap = average_precision(&scores, &labels).unwrap();
        prop_assert!(ap > 0.0 && ap <= 1.0);
    }
}
