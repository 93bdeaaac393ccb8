//! [`ScorerConfig`]: every scorer of the crate behind one serde enum, for
//! choosing a scorer at run time (config files, CLIs) and for loading saved ones.

use serde::{Deserialize, Serialize};
use ssad_core::MatrixView;

use crate::persist::State;
use crate::{FittedScorer, Result, Scorer};

/// Declares [`ScorerConfig`] from one line per scorer, so that adding a scorer
/// is one line here and nothing can be forgotten in `fit`, `restore` or `name`.
///
/// Each line: `Variant(ConfigType) => FittedType, "json_kind", translation_invariant;`.
/// `FittedType` must have `fn from_state(ConfigType, &mut State) -> Result<Self>`.
macro_rules! scorer_configs {
    ($( $(#[$meta:meta])* $variant:ident($config:ty) => $fitted:ty, $kind:literal, $invariant:literal; )*) => {
        /// The configuration of any scorer, tagged by `"kind"` in JSON:
        /// `{"kind": "knn", "n_neighbors": 5}`. Missing fields take their defaults.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        #[non_exhaustive]
        pub enum ScorerConfig {
            $( $(#[$meta])* #[serde(rename = $kind)] $variant($config), )*
        }

        $(
            impl From<$config> for ScorerConfig {
                fn from(c: $config) -> Self {
                    ScorerConfig::$variant(c)
                }
            }
        )*

        impl ScorerConfig {
            /// The default config of every scorer, in declaration order.
            pub fn catalogue() -> Vec<ScorerConfig> {
                vec![$( ScorerConfig::$variant(<$config>::default()), )*]
            }

            /// The `"kind"` tag: a short, stable, lower-case name.
            pub fn name(&self) -> &'static str {
                match self {
                    $( ScorerConfig::$variant(_) => $kind, )*
                }
            }

            /// Whether adding one constant to every feature leaves the scores
            /// unchanged (up to rounding): true for distance- and rank-based scorers.
            pub fn translation_invariant(&self) -> bool {
                match self {
                    $( ScorerConfig::$variant(_) => $invariant, )*
                }
            }

            /// Fits the configured scorer on `train`.
            pub fn fit(&self, train: MatrixView<'_>) -> Result<Box<dyn FittedScorer>> {
                Ok(match self {
                    $( ScorerConfig::$variant(c) => Box::new(Scorer::fit(c, train)?), )*
                })
            }

            /// Fits on `train` and scores its rows the way PyOD's `decision_scores_` does
            /// (see [`Scorer::fit_score`]).
            pub fn fit_score(
                &self,
                train: MatrixView<'_>,
            ) -> Result<(Box<dyn FittedScorer>, Vec<f64>)> {
                Ok(match self {
                    $( ScorerConfig::$variant(c) => {
                        let (f, s) = Scorer::fit_score(c, train)?;
                        (Box::new(f) as Box<dyn FittedScorer>, s)
                    } )*
                })
            }

            /// Rebuilds a fitted scorer of this kind from its exported state.
            pub fn restore(self, mut state: State) -> Result<Box<dyn FittedScorer>> {
                Ok(match self {
                    $( ScorerConfig::$variant(c) => Box::new(<$fitted>::from_state(c, &mut state)?), )*
                })
            }
        }
    };
}

scorer_configs! {
    /// k-nearest-neighbour distance ([`crate::KnnConfig`]).
    Knn(crate::KnnConfig) => crate::FittedKnn, "knn", true;
    /// Local outlier factor ([`crate::LofConfig`]).
    Lof(crate::LofConfig) => crate::FittedLof, "lof", true;
    /// Isolation forest ([`crate::IForestConfig`]).
    IForest(crate::IForestConfig) => crate::FittedIForest, "iforest", true;
    /// PyOD's PCA detector ([`crate::PcaConfig`]). Not translation invariant in
    /// general: its score depends on each component's sign, which rounding can
    /// flip when two entries of a component tie in magnitude.
    Pca(crate::PcaConfig) => crate::FittedPca, "pca", false;
    /// One-class SVM with an RBF kernel ([`crate::OcsvmConfig`]).
    Ocsvm(crate::OcsvmConfig) => crate::FittedOcsvm, "ocsvm", true;
    /// Gaussian kernel density ([`crate::KdeConfig`]).
    Kde(crate::KdeConfig) => crate::FittedKde, "kde", true;
    /// Empirical-CDF outlier detection ([`crate::EcodConfig`]).
    Ecod(crate::EcodConfig) => crate::FittedEcod, "ecod", true;
    /// Copula-based outlier detection ([`crate::CopodConfig`]).
    Copod(crate::CopodConfig) => crate::FittedCopod, "copod", true;
    /// Histogram-based outlier score ([`crate::HbosConfig`]).
    Hbos(crate::HbosConfig) => crate::FittedHbos, "hbos", true;
    /// Mahalanobis distance / SSD ([`crate::MahalanobisConfig`]).
    Mahalanobis(crate::MahalanobisConfig) => crate::FittedMahalanobis, "mahalanobis", false;
    /// CutPaste's Gaussian density estimator ([`crate::GdeConfig`]).
    Gde(crate::GdeConfig) => crate::FittedGde, "gde", false;
    /// GOAD's center-distance score ([`crate::CenterConfig`]).
    Center(crate::CenterConfig) => crate::FittedCenter, "center", true;
    /// RotNet / GEOM max-softmax score ([`crate::SoftmaxConfig`]).
    Softmax(crate::SoftmaxConfig) => crate::FittedSoftmax, "softmax", true;
    /// GEOM's Dirichlet normality score ([`crate::DirichletConfig`]).
    Dirichlet(crate::DirichletConfig) => crate::FittedDirichlet, "dirichlet", true;
}
