//! Bootstrap intervals: reproducibility, thread independence and statistical sanity.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ssad_eval::{auroc, bootstrap_auroc, BootstrapConfig, Error};

fn shifted_sample(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let labels: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
    let scores = labels
        .iter()
        .map(|&a| rng.random::<f64>() + if a { 0.3 } else { 0.0 })
        .collect();
    (scores, labels)
}

#[test]
fn same_seed_same_interval_on_any_thread_count() {
    let (scores, labels) = shifted_sample(300, 1);
    let config = BootstrapConfig::default();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| bootstrap_auroc(&scores, &labels, &config, 42).unwrap())
    };
    let single = run(1);
    assert_eq!(single, run(3));
    assert_ne!(
        single,
        bootstrap_auroc(&scores, &labels, &config, 43).unwrap()
    );
}

#[test]
fn interval_brackets_the_estimate() {
    let (scores, labels) = shifted_sample(400, 2);
    let ci = bootstrap_auroc(&scores, &labels, &BootstrapConfig::default(), 0).unwrap();
    assert_eq!(ci.estimate, auroc(&scores, &labels).unwrap());
    assert!(ci.lower < ci.estimate && ci.estimate < ci.upper, "{ci:?}");
    assert_eq!(ci.confidence, 0.95);
}

/// The 95% percentile interval should be about ±1.96 Hanley-McNeil standard errors wide.
#[test]
fn width_agrees_with_hanley_mcneil() {
    let (scores, labels) = shifted_sample(2000, 3);
    let config = BootstrapConfig {
        n_resamples: 2000,
        ..BootstrapConfig::default()
    };
    let ci = bootstrap_auroc(&scores, &labels, &config, 7).unwrap();
    let a = ci.estimate;
    let (p, n) = (1000.0, 1000.0);
    let q1 = a / (2.0 - a);
    let q2 = 2.0 * a * a / (1.0 + a);
    let se =
        ((a * (1.0 - a) + (p - 1.0) * (q1 - a * a) + (n - 1.0) * (q2 - a * a)) / (p * n)).sqrt();
    let ratio = (ci.upper - ci.lower) / (2.0 * 1.96 * se);
    assert!((0.85..1.15).contains(&ratio), "width ratio {ratio}, {ci:?}");
}

#[test]
fn perfect_separation_gives_a_degenerate_interval() {
    let scores = [0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0];
    let labels = [false, false, false, false, true, true, true];
    let ci = bootstrap_auroc(&scores, &labels, &BootstrapConfig::default(), 5).unwrap();
    assert_eq!((ci.lower, ci.estimate, ci.upper), (1.0, 1.0, 1.0));
}

#[test]
fn bad_config_and_bad_input_are_errors() {
    let (scores, labels) = shifted_sample(10, 4);
    for config in [
        BootstrapConfig {
            n_resamples: 1,
            ..BootstrapConfig::default()
        },
        BootstrapConfig {
            confidence: 1.0,
            ..BootstrapConfig::default()
        },
        BootstrapConfig {
            confidence: f64::NAN,
            ..BootstrapConfig::default()
        },
    ] {
        assert!(matches!(
            bootstrap_auroc(&scores, &labels, &config, 0),
            Err(Error::InvalidParameter { .. })
        ));
    }
    assert!(matches!(
        bootstrap_auroc(&scores, &[true; 10], &BootstrapConfig::default(), 0),
        Err(Error::SingleClass { .. })
    ));
}

#[test]
fn config_defaults_and_strict_parsing() {
    let empty: BootstrapConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, BootstrapConfig::default());
    let partial: BootstrapConfig = serde_json::from_str(r#"{"n_resamples": 50}"#).unwrap();
    assert_eq!(partial.n_resamples, 50);
    assert_eq!(partial.confidence, 0.95);
    assert!(serde_json::from_str::<BootstrapConfig>(r#"{"n_resample": 50}"#).is_err());
}
