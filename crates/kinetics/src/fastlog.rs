//! A deterministic natural logarithm for the falloff kernels (Troe's
//! `log10 F_cent` and `log10 Pr`), in about half the instructions of `libm`'s.
//!
//! `x = 2^e m`, `m` in `[1, 2)`, is split at the centre `c_j` of one of 64
//! intervals of `m`: `ln x = e ln 2 + ln c_j + ln(1 + r)`, `r = m / c_j - 1`,
//! `|r| < 1/128`, with a degree-8 polynomial for `ln(1 + r)`. Only `f64`
//! multiplies and adds (Rust never contracts them into FMAs) and a table
//! computed once by the pure-Rust `libm`, so the bits are the same on every
//! CPU. Error within 4 ulp of the result, or 3e-16 absolute where the result is
//! below 1 (`e ln 2` and `ln c_j` cancel; tested against `libm::log`); what
//! the falloff blending makes of it is far below the integration tolerances.
//! Zero, negative, subnormal and
//! non-finite arguments go to `libm::log`.

use std::sync::OnceLock;

const INTERVALS: usize = 64;

/// `ln 2` split: `HI` has 32 significant bits, so `e * HI` is exact for `|e| < 2^21`.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// `(1 / c_j, ln c_j)` for the interval centres `c_j = 1 + (j + 1/2) / 64`.
fn table() -> &'static [(f64, f64); INTERVALS] {
    static TABLE: OnceLock<[(f64, f64); INTERVALS]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [(0.0, 0.0); INTERVALS];
        for (j, entry) in t.iter_mut().enumerate() {
            let c = 1.0 + (j as f64 + 0.5) / INTERVALS as f64;
            *entry = (1.0 / c, libm::log(c));
        }
        t
    })
}

/// `ln x`.
#[inline]
pub(crate) fn ln(x: f64) -> f64 {
    if !(f64::MIN_POSITIVE..=f64::MAX).contains(&x) {
        return libm::log(x);
    }
    let bits = x.to_bits();
    let e = ((bits >> 52) as i64 - 1023) as f64;
    let mantissa = bits & ((1u64 << 52) - 1);
    let m = f64::from_bits(mantissa | 0x3ff0_0000_0000_0000);
    let (inv_c, ln_c) = table()[(mantissa >> 46) as usize];
    let r = m * inv_c - 1.0;
    let r2 = r * r;
    let r4 = r2 * r2;
    // ln(1 + r) = r - r^2/2 + r^3/3 - ... - r^8/8 + O(r^9), in Estrin's scheme.
    let p = r
        + r2 * ((-0.5 + r * (1.0 / 3.0)) + r2 * (-0.25 + r * 0.2))
        + r4 * r2 * ((-1.0 / 6.0 + r * (1.0 / 7.0)) + r2 * -0.125);
    (e * LN2_HI + ln_c) + (p + e * LN2_LO)
}

/// `x^y` for `x >= 0` as `exp(y ln x)`, to about `1e-15 |y ln x|` relative: for
/// the integrators' step-size formulas, where `libm::pow`'s last bit buys
/// nothing and costs several times the instructions.
#[inline]
pub(crate) fn pow(x: f64, y: f64) -> f64 {
    crate::fastexp::exp(y * ln(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_libm() {
        let mut worst = 0.0f64;
        let mut check = |x: f64| {
            let (ours, reference) = (ln(x), libm::log(x));
            let err = (ours - reference).abs();
            let allowed = (4.0 * f64::EPSILON * reference.abs()).max(3e-16);
            assert!(err <= allowed, "ln({x:e}) = {ours:e}, libm {reference:e}");
            worst = worst.max(err / allowed);
        };
        let mut x = 1e-300;
        while x < 1e300 {
            for f in [1.0, 1.0 + 1e-12, 1.37, 1.999_999, 0.75] {
                check(x * f);
            }
            x *= 1.0173;
        }
        for x in [
            1.0,
            1.0 + 1e-15,
            1.0 - 1e-15,
            0.5,
            2.0,
            10.0,
            1e-300,
            f64::MAX,
        ] {
            check(x);
        }
        assert!(ln(0.0) == f64::NEG_INFINITY && ln(-1.0).is_nan() && ln(f64::NAN).is_nan());
        assert!(worst <= 1.0, "{worst}");
    }

    #[test]
    fn pow_agrees_with_libm_on_step_size_arguments() {
        for x in [0.0, 1e-12, 0.003, 0.5, 1.0, 2.7, 1e4, 1e12] {
            for y in [1.0 / 6.0, 0.25, 1.0 / 3.0, 0.5, 1.0] {
                let (ours, reference) = (pow(x, y), libm::pow(x, y));
                assert!(
                    (ours - reference).abs() <= 1e-14 * reference,
                    "pow({x}, {y}) = {ours:e}, libm {reference:e}"
                );
            }
        }
    }
}
