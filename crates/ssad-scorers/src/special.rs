//! Digamma, trigamma and inverse digamma in `f64`, for the Dirichlet MLE.
//!
//! Both functions shift the argument up by the recurrences
//! `psi(x) = psi(x + 1) - 1/x` and `psi'(x) = psi'(x + 1) + 1/x^2` until it is
//! at least [`ASYMPTOTIC_FROM`], then sum their asymptotic (Bernoulli) series;
//! negative arguments go through the reflection formulas first. Accuracy is a
//! few ulps away from the root of `psi` near 1.4616.

use std::f64::consts::PI;

/// Where the asymptotic series is accurate to `f64` with the terms below.
const ASYMPTOTIC_FROM: f64 = 10.0;

/// The digamma function `psi(x) = d/dx ln Gamma(x)`; NaN at the poles `0, -1, -2, ...`.
pub(crate) fn digamma(x: f64) -> f64 {
    if x.is_nan() || x == f64::NEG_INFINITY {
        return f64::NAN;
    }
    if x <= 0.0 {
        if x == x.floor() {
            return f64::NAN;
        }
        // psi(1 - x) - psi(x) = pi cot(pi x)
        return digamma(1.0 - x) - PI / (PI * x).tan();
    }
    let mut x = x;
    let mut acc = 0.0;
    while x < ASYMPTOTIC_FROM {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let inv2 = 1.0 / (x * x);
    // B_2k / (2k) for k = 1..7, evaluated in Horner form in 1/x^2.
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2
                        * (1.0 / 252.0
                            - inv2
                                * (1.0 / 240.0
                                    - inv2
                                        * (1.0 / 132.0
                                            - inv2 * (691.0 / 32760.0 - inv2 / 12.0))))));
    acc + x.ln() - 0.5 / x - series
}

/// The trigamma function `psi'(x)`; NaN at the poles `0, -1, -2, ...`.
pub(crate) fn trigamma(x: f64) -> f64 {
    if x.is_nan() || x == f64::NEG_INFINITY {
        return f64::NAN;
    }
    if x <= 0.0 {
        if x == x.floor() {
            return f64::NAN;
        }
        // psi'(1 - x) + psi'(x) = pi^2 / sin^2(pi x)
        let s = (PI * x).sin();
        return PI * PI / (s * s) - trigamma(1.0 - x);
    }
    let mut x = x;
    let mut acc = 0.0;
    while x < ASYMPTOTIC_FROM {
        acc += 1.0 / (x * x);
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    // 1/x + 1/(2x^2) + sum_k B_2k / x^(2k+1), k = 1..7.
    let series = inv2
        * inv
        * (1.0 / 6.0
            - inv2
                * (1.0 / 30.0
                    - inv2
                        * (1.0 / 42.0
                            - inv2
                                * (1.0 / 30.0
                                    - inv2
                                        * (5.0 / 66.0
                                            - inv2 * (691.0 / 2730.0 - inv2 * 7.0 / 6.0))))));
    acc + inv + 0.5 * inv2 + series
}

/// `psi(1) = -gamma` (Euler-Mascheroni).
pub(crate) const DIGAMMA_ONE: f64 = -0.577_215_664_901_532_9;

/// Inverse digamma as GEOM computes it: Minka's starting point
/// (`exp(y) + 1/2` for `y >= -2.22`, else `-1 / (y - psi(1))`) then
/// `newton_steps` Newton steps, with no convergence test.
pub(crate) fn inv_digamma(y: f64, newton_steps: usize) -> f64 {
    let mut x = if y >= -2.22 {
        y.exp() + 0.5
    } else {
        -1.0 / (y - DIGAMMA_ONE)
    };
    for _ in 0..newton_steps {
        x -= (digamma(x) - y) / trigamma(x);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recurrences_and_reflection_hold() {
        for &x in &[0.01, 0.3, 1.0, 1.4616, 2.5, 9.99, 10.0, 55.0, 1e6] {
            let d = digamma(x + 1.0) - digamma(x) - 1.0 / x;
            assert!(
                d.abs() <= 1e-13 * (1.0 + 1.0 / x),
                "digamma recurrence at {x}: {d}"
            );
            let t = trigamma(x) - trigamma(x + 1.0) - 1.0 / (x * x);
            assert!(
                t.abs() <= 1e-13 * (1.0 + 1.0 / (x * x)),
                "trigamma recurrence at {x}: {t}"
            );
        }
        assert!((digamma(1.0) - DIGAMMA_ONE).abs() < 1e-15);
        assert!((trigamma(1.0) - PI * PI / 6.0).abs() < 1e-15);
        assert!(digamma(0.0).is_nan() && digamma(-3.0).is_nan() && trigamma(-1.0).is_nan());
        assert!(digamma(f64::NAN).is_nan());
    }

    #[test]
    fn match_scipy_and_geom() {
        let f: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/downstream_special.json"))
                .unwrap();
        let floats = |k: &str| -> Vec<f64> {
            f[k].as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let close = |g: f64, w: f64, what: &str| {
            assert!(
                (g - w).abs() <= 1e-13 * w.abs().max(1.0),
                "{what}: {g} vs {w}"
            );
        };
        for ((x, dg), tg) in floats("x")
            .into_iter()
            .zip(floats("digamma"))
            .zip(floats("trigamma"))
        {
            close(digamma(x), dg, &format!("digamma({x})"));
            close(trigamma(x), tg, &format!("trigamma({x})"));
        }
        for (y, want) in floats("y").into_iter().zip(floats("inv_digamma")) {
            close(inv_digamma(y, 5), want, &format!("inv_digamma({y})"));
        }
    }

    #[test]
    fn inverse_undoes_digamma() {
        for &x in &[1e-3, 0.05, 0.5, 1.0, 3.0, 40.0, 1e4] {
            let back = inv_digamma(digamma(x), 5);
            assert!((back - x).abs() <= 1e-10 * x, "{x} -> {back}");
        }
    }
}
