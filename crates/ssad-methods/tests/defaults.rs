//! Pins the paper's settings: GOAD's README commands and `opt_tc_tabular.py` defaults.

use ssad_methods::{ClassicConfig, GoadConfig, GoadPreset, REGISTRY};

#[test]
fn goad_presets_are_the_reference_readme() {
    let table = [
        (GoadPreset::Kdd, 64, 64, 32, 5, 25),
        (GoadPreset::Kddrev, 256, 128, 128, 5, 25),
        (GoadPreset::Thyroid, 256, 32, 8, 1, 1),
        (GoadPreset::Arrhythmia, 256, 32, 8, 1, 1),
    ];
    for (preset, m, r, ndf, layers, epochs) in table {
        let c = GoadConfig::preset(preset);
        assert_eq!(
            (
                c.num_transforms,
                c.transform_dim,
                c.ndf,
                c.trunk_layers,
                c.epochs
            ),
            (m, r, ndf, layers, epochs),
            "{preset:?}"
        );
        assert_eq!(c.batch_size, 64);
        assert_eq!(c.lr, 1e-3);
        assert_eq!(c.betas, (0.5, 0.999));
        assert_eq!((c.margin, c.lambda, c.eps), (1.0, 0.1, 0.0));
        assert_eq!(GoadPreset::from_name(preset.name()).unwrap(), preset);
    }
    assert!(GoadPreset::from_name("cifar").is_err());
}

#[test]
fn defaults_are_the_odds_setting_and_empty_json_gives_them() {
    assert_eq!(
        GoadConfig::default(),
        GoadConfig::preset(GoadPreset::Thyroid)
    );
    let parsed: GoadConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(parsed, GoadConfig::default());
    let classic: ClassicConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(classic, ClassicConfig::default());
    assert_eq!(classic.scorer.name(), "knn");
    assert!(serde_json::from_str::<GoadConfig>(r#"{"n_rots": 3}"#).is_err());
}

#[test]
fn registry_names_are_unique_and_documented() {
    for (i, e) in REGISTRY.iter().enumerate() {
        assert!(REGISTRY[..i].iter().all(|o| o.name != e.name));
        assert!(!e.paper.is_empty() && !e.description.is_empty());
        assert_eq!((e.default)().name(), e.name);
        let json = (e.default)().config_json().unwrap();
        assert_eq!(
            (e.from_json)(json.clone()).unwrap().config_json().unwrap(),
            json
        );
    }
}
