//! Ignition delay and adiabatic flame temperature of a homogeneous mixture.

use crate::reactor::{Reactor, ReactorOptions};
use crate::{Error, Mechanism, Result};

/// Result of [`ignition`].
#[derive(Clone, Copy, Debug)]
pub struct Ignition {
    /// Ignition delay, s: the time of the maximum of `dT/dt` (refined by a
    /// parabola through the accepted step with the largest `dT/dt` and its two
    /// neighbours). If `dT/dt` is largest at the start or at `t_end`, that time.
    pub delay: f64,
    /// Temperature at `t_end`, K.
    pub final_temperature: f64,
    /// Largest `dT/dt` seen, K/s.
    pub max_dtdt: f64,
    /// Accepted integrator steps.
    pub steps: u64,
}

fn initial_state(
    mechanism: &Mechanism,
    mass_fractions: &[f64],
    temperature: f64,
    pressure: f64,
) -> Result<Vec<f64>> {
    let k = mechanism.num_species();
    if mass_fractions.len() != k {
        return Err(Error::InvalidInput(format!(
            "{} mass fractions for a mechanism of {k} species",
            mass_fractions.len()
        )));
    }
    if let Some(y) = mass_fractions
        .iter()
        .find(|y| !(y.is_finite() && **y >= 0.0))
    {
        return Err(Error::InvalidInput(format!(
            "mass fractions must be finite and >= 0, got {y}"
        )));
    }
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(Error::InvalidInput(format!(
            "temperature must be finite and > 0 K, got {temperature}"
        )));
    }
    if !(pressure.is_finite() && pressure > 0.0) {
        return Err(Error::InvalidInput(format!(
            "pressure must be finite and > 0 Pa, got {pressure}"
        )));
    }
    let mut state = Vec::with_capacity(k + 1);
    state.push(temperature);
    state.extend_from_slice(mass_fractions);
    Ok(state)
}

/// Vertex of the parabola through three points `(t, d)` with `t0 < t1 < t2`
/// and `d1` the largest, clamped to `[t0, t2]`.
fn parabola_peak(p0: (f64, f64), p1: (f64, f64), p2: (f64, f64)) -> f64 {
    let (u0, u2) = (p0.0 - p1.0, p2.0 - p1.0);
    if !(u0 < 0.0 && u2 > 0.0) {
        return p1.0;
    }
    let s0 = (p0.1 - p1.1) / u0;
    let s2 = (p2.1 - p1.1) / u2;
    let alpha = (s0 - s2) / (u0 - u2);
    if alpha >= 0.0 || alpha.is_nan() {
        return p1.0;
    }
    let beta = s0 - alpha * u0;
    p1.0 + (-beta / (2.0 * alpha)).clamp(u0, u2)
}

/// Integrates an adiabatic constant-pressure reactor from `temperature` (K) and
/// `mass_fractions` at `pressure` (Pa) to `t_end` (s) and returns the time of
/// the maximum of `dT/dt` (the ignition delay), the final temperature and the
/// number of accepted steps.
///
/// ```
/// use quicklb_kinetics::{ignition, Mechanism, ReactorOptions};
///
/// let mech = Mechanism::bundled_h2_o2();
/// let y = mech.mass_fractions("H2:2, O2:1, N2:3.76").unwrap();
/// let ign = ignition(&mech, &y, 1100.0, 101325.0, ReactorOptions::default(), 1e-3).unwrap();
/// assert!(ign.delay > 1e-5 && ign.delay < 2e-4, "{}", ign.delay);
/// assert!(ign.final_temperature > 2500.0);
/// ```
pub fn ignition(
    mechanism: &Mechanism,
    mass_fractions: &[f64],
    temperature: f64,
    pressure: f64,
    options: ReactorOptions,
    t_end: f64,
) -> Result<Ignition> {
    let mut state = initial_state(mechanism, mass_fractions, temperature, pressure)?;
    if !(t_end.is_finite() && t_end > 0.0) {
        return Err(Error::InvalidInput(format!(
            "t_end must be finite and > 0 s, got {t_end}"
        )));
    }
    let mut reactor = Reactor::new(mechanism, options);
    let mut last = (f64::NAN, f64::NEG_INFINITY);
    let mut best = (0.0, f64::NEG_INFINITY);
    let mut before = (f64::NAN, f64::NAN);
    let mut after: Option<(f64, f64)> = None;
    let (stats, _) = reactor.integrate(&mut state, pressure, t_end, None, true, |t, _, f| {
        let point = (t, f[0]);
        if point.1 > best.1 {
            before = last;
            best = point;
            after = None;
        } else if after.is_none() {
            after = Some(point);
        }
        last = point;
    })?;
    let delay = match after {
        Some(a) if before.0.is_finite() => parabola_peak(before, best, a),
        _ => best.0,
    };
    Ok(Ignition {
        delay,
        final_temperature: state[0],
        max_dtdt: best.1,
        steps: stats.steps as u64,
    })
}

/// Adiabatic flame temperature at constant pressure, K: the temperature of the
/// chemical equilibrium of the mechanism's species at the enthalpy of the
/// initial state (`mass_fractions` at `temperature`) and `pressure` — what
/// Cantera's `equilibrate('HP')` computes.
///
/// A proper HP equilibrium (Gibbs-energy minimisation by element potentials,
/// NASA CEA's method and damping), not the end of a kinetic integration, so it
/// also holds for mixtures too cold to ignite. Species containing an element
/// absent from the mixture are left out (their amount is zero).
///
/// ```
/// use quicklb_kinetics::{equilibrium_temperature, Mechanism};
///
/// let mech = Mechanism::bundled_h2_o2();
/// let y = mech.mass_fractions("H2:2, O2:1, N2:3.76").unwrap();
/// let t = equilibrium_temperature(&mech, &y, 300.0, 101325.0).unwrap();
/// assert!((t - 2390.0).abs() < 20.0, "{t}");
/// ```
pub fn equilibrium_temperature(
    mechanism: &Mechanism,
    mass_fractions: &[f64],
    temperature: f64,
    pressure: f64,
) -> Result<f64> {
    let state = initial_state(mechanism, mass_fractions, temperature, pressure)?;
    crate::equilibrium::hp_temperature(&mechanism.inner, &state[1..], temperature, pressure)
}
