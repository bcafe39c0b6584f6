//! What both integrators measure a step with: the reactor's error norm and
//! the size of the first step.

/// The weighted RMS norm of the reactor, `|e_i| / (atol + rtol max(|a_i|, |b_i|))`
/// (`a`, `b`: the states at the two ends of a step).
pub(crate) fn weighted_rms(e: &[f64], a: &[f64], b: &[f64], rtol: f64, atol: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..e.len() {
        let sc = atol + rtol * a[i].abs().max(b[i].abs());
        let x = e[i] / sc;
        s += x * x;
    }
    (s / e.len() as f64).sqrt()
}

/// The first step from `y` (with `f0 = f(y)`) over an interval `dt`, for a
/// method whose local error is `O(h^error_order)`: Hairer, Nørsett & Wanner's
/// estimate (II.4), except that a state whose derivative is negligible at
/// this tolerance (a cold, frozen mixture) tries the whole interval (the
/// error test still decides).
///
/// `rhs(y, f)` evaluates `f` once, at the explicit Euler point (in `y_trial`,
/// its value into `f_trial`), and returns `false` if that point is outside
/// the domain of `f`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn first_step(
    y: &[f64],
    f0: &[f64],
    dt: f64,
    error_order: f64,
    rtol: f64,
    atol: f64,
    y_trial: &mut [f64],
    f_trial: &mut [f64],
    mut rhs: impl FnMut(&[f64], &mut [f64]) -> bool,
) -> f64 {
    let d0 = weighted_rms(y, y, y, rtol, atol);
    let d1 = weighted_rms(f0, y, y, rtol, atol);
    let h0 = if d1 < 1e-5 {
        dt
    } else if d0 < 1e-5 {
        1e-6 * dt
    } else {
        (0.01 * d0 / d1).min(dt)
    };
    for i in 0..y.len() {
        y_trial[i] = y[i] + h0 * f0[i];
    }
    let h1 = if rhs(y_trial, f_trial) {
        for i in 0..y.len() {
            f_trial[i] -= f0[i];
        }
        let d2 = weighted_rms(f_trial, y, y, rtol, atol) / h0;
        let dmax = d1.max(d2);
        if !dmax.is_finite() {
            h0 * 1e-3
        } else if dmax <= 1e-15 {
            (h0 * 1e-3).max(1e-6 * dt)
        } else {
            crate::fastlog::pow(0.01 / dmax, 1.0 / error_order)
        }
    } else {
        h0 * 1e-3
    };
    (100.0 * h0).min(h1).min(dt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_states_try_the_whole_interval_and_fast_ones_a_short_step() {
        let (rtol, atol) = (1e-6, 1e-12);
        let y = [1000.0, 0.5];
        let mut trial = [0.0; 2];
        let mut f_trial = [0.0; 2];
        // A derivative far below the tolerance (a cold mixture): the whole interval.
        let slow = [1e-9, 0.0];
        let frozen = first_step(
            &y,
            &slow,
            1e-3,
            2.0,
            rtol,
            atol,
            &mut trial,
            &mut f_trial,
            |_, f| {
                f.copy_from_slice(&slow);
                true
            },
        );
        assert_eq!(frozen, 1e-3);
        // y' = -1e6 y: a step near the error-controlled size, far below dt.
        let lambda = -1e6;
        let f0 = [lambda * y[0], lambda * y[1]];
        let fast = first_step(
            &y,
            &f0,
            1e-3,
            2.0,
            rtol,
            atol,
            &mut trial,
            &mut f_trial,
            |y, f| {
                f[0] = lambda * y[0];
                f[1] = lambda * y[1];
                true
            },
        );
        assert!(fast > 0.0 && fast < 1e-7, "{fast}");
        // A trial point outside the domain shortens the step.
        let refused = first_step(
            &y,
            &f0,
            1e-3,
            2.0,
            rtol,
            atol,
            &mut trial,
            &mut f_trial,
            |_, _| false,
        );
        assert!(refused < fast, "{refused} vs {fast}");
    }

    #[test]
    fn weighted_rms_uses_the_larger_end() {
        let e = [1e-6, 0.0];
        let a = [1.0, 0.0];
        let b = [2.0, 0.0];
        let n = weighted_rms(&e, &a, &b, 1e-6, 1e-12);
        let expected = (1e-6 / (1e-12 + 2e-6)) / 2f64.sqrt();
        assert!((n - expected).abs() < 1e-15, "{n} vs {expected}");
    }
}
