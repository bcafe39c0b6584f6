//! NASA 7-coefficient polynomials and atomic weights.

/// NASA7 thermo of one species: `cp/R`, `h/RT`, `s/R` as polynomials in `T`,
/// one coefficient set below `t_mid` and one above (Cantera's convention: the
/// polynomials are used outside `[t_min, t_max]` too, without clipping).
#[derive(Clone, Debug)]
pub(crate) struct Nasa7 {
    pub t_mid: f64,
    pub low: [f64; 7],
    pub high: [f64; 7],
}

/// Temperature powers shared by every species at one temperature.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TPowers {
    pub t: f64,
    pub t2: f64,
    pub t3: f64,
    pub t4: f64,
    pub inv_t: f64,
    pub ln_t: f64,
}

impl TPowers {
    #[inline]
    pub fn new(t: f64) -> TPowers {
        let t2 = t * t;
        TPowers {
            t,
            t2,
            t3: t2 * t,
            t4: t2 * t2,
            inv_t: 1.0 / t,
            ln_t: crate::fastlog::ln(t),
        }
    }
}

impl Nasa7 {
    #[inline]
    fn coeffs(&self, t: f64) -> &[f64; 7] {
        if t < self.t_mid {
            &self.low
        } else {
            &self.high
        }
    }

    /// `(cp/R, h/RT, s/R, d(cp/R)/dT)` at `tp.t`.
    #[inline]
    pub fn eval(&self, tp: &TPowers) -> (f64, f64, f64, f64) {
        let a = self.coeffs(tp.t);
        let cp = a[0] + a[1] * tp.t + a[2] * tp.t2 + a[3] * tp.t3 + a[4] * tp.t4;
        let h = a[0]
            + a[1] * 0.5 * tp.t
            + a[2] * (1.0 / 3.0) * tp.t2
            + a[3] * 0.25 * tp.t3
            + a[4] * 0.2 * tp.t4
            + a[5] * tp.inv_t;
        let s = a[0] * tp.ln_t
            + a[1] * tp.t
            + a[2] * 0.5 * tp.t2
            + a[3] * (1.0 / 3.0) * tp.t3
            + a[4] * 0.25 * tp.t4
            + a[6];
        let dcp = a[1] + 2.0 * a[2] * tp.t + 3.0 * a[3] * tp.t2 + 4.0 * a[4] * tp.t3;
        (cp, h, s, dcp)
    }
}

/// Atomic weight (kg/kmol) of an element symbol, the values Cantera uses (IUPAC).
pub(crate) fn atomic_weight(symbol: &str) -> Option<f64> {
    let s = symbol.to_ascii_lowercase();
    Some(match s.as_str() {
        "h" => 1.008,
        "d" => 2.014102,
        "t" => 3.016049,
        "he" => 4.002602,
        "li" => 6.94,
        "be" => 9.0121831,
        "b" => 10.81,
        "c" => 12.011,
        "n" => 14.007,
        "o" => 15.999,
        "f" => 18.998403163,
        "ne" => 20.1797,
        "na" => 22.98976928,
        "mg" => 24.305,
        "al" => 26.9815384,
        "si" => 28.085,
        "p" => 30.973761998,
        "s" => 32.06,
        "cl" => 35.45,
        "ar" => 39.95,
        "k" => 39.0983,
        "ca" => 40.078,
        "ti" => 47.867,
        "cr" => 51.9961,
        "fe" => 55.845,
        "ni" => 58.6934,
        "cu" => 63.546,
        "zn" => 65.38,
        "br" => 79.904,
        "kr" => 83.798,
        "i" => 126.90447,
        "xe" => 131.293,
        "e" => 5.48579909065e-4,
        _ => return None,
    })
}
