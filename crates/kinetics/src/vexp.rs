//! A vectorised, deterministic `exp` over slices, and the Arrhenius rate
//! constants of many reactions computed with it.
//!
//! Each lane runs the same table-free scalar code: `x = k ln 2 + r` with
//! `|r| <= ln 2 / 2`, `e^r` from its Taylor polynomial of degree 13 (truncation
//! below 5e-18 relative), scaled by `2^k` built from the bits of the rounded
//! `k`. Only `f64` multiplies, adds and integer bit operations, no FMA (Rust
//! never contracts), no branch, no table: the compiler vectorises the loops,
//! and the baseline (SSE2), AVX2 and AVX-512 builds give the same bits, as
//! does a CPU without any of them (tested). Arguments outside (-708, 709) and
//! NaN are recomputed by `libm::exp` after the vector pass.
//!
//! The loops run inside `pulp::Arch::new().dispatch`, which picks the widest
//! instruction set the CPU has at run time (no `-C target-cpu`).

use pulp::{Simd, WithSimd};

/// The range the polynomial path covers (`2^k` stays a normal number).
const LOW: f64 = -708.0;
const HIGH: f64 = 709.0;
const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// `ln 2` split: `LN2_HI` has 32 significant bits, so `k * LN2_HI` is exact for `|k| < 2^21`.
const LN2_HI: f64 = f64::from_bits(0x3fe62e42fee00000);
const LN2_LO: f64 = f64::from_bits(0x3dea39ef35793c76);
/// `1.5 * 2^52`: adding and subtracting it rounds to the nearest integer, and
/// the sum's low mantissa bits hold that integer.
const SHIFT: f64 = 6755399441055744.0;

/// `e^x` for `x` in `[LOW, HIGH]` (other inputs give a finite, wrong value
/// that [`fix_out_of_range`] replaces).
#[inline(always)]
fn exp_lane(x: f64) -> f64 {
    // Clamped so that 2^k below is a normal number whatever x is (a select, no branch).
    let x = if x > LOW { x } else { LOW };
    let x = if x < HIGH { x } else { HIGH };
    let shifted = x * INV_LN2 + SHIFT;
    let kf = shifted - SHIFT;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    // Taylor coefficients 1/n!, Horner from the highest degree.
    let mut p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    // e^r = 1 + (r + r^2 p): the small part summed first, then the 1.
    let er = 1.0 + (r + (r * r) * p);
    // The low bits of `shifted` are 2^51 + k: subtracting SHIFT's bits and
    // adding the exponent bias gives k + 1023, shifted into the exponent field.
    let bits = shifted
        .to_bits()
        .wrapping_sub(SHIFT.to_bits())
        .wrapping_add(1023);
    er * f64::from_bits(bits << 52)
}

/// Replaces `out[i]` by `libm::exp(x[i])` where `x[i]` is outside the
/// polynomial's range or NaN (a vectorisable test first: usually nothing to do).
#[inline(always)]
fn fix_out_of_range(x: &[f64], out: &mut [f64]) {
    let outside = x.iter().fold(false, |any, &v| any | !(v > LOW && v < HIGH));
    if outside {
        for (o, &v) in out.iter_mut().zip(x) {
            if !(v > LOW && v < HIGH) {
                *o = libm::exp(v);
            }
        }
    }
}

/// `out[i] = e^x[i]`, within 2 ulp of the correctly rounded value.
struct ExpInto<'a> {
    x: &'a [f64],
    out: &'a mut [f64],
}

impl WithSimd for ExpInto<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        for (o, &v) in self.out.iter_mut().zip(self.x) {
            *o = exp_lane(v);
        }
        fix_out_of_range(self.x, self.out);
    }
}

/// `out[i] = e^x[i]` for `i < min(x.len(), out.len())`, vectorised.
pub(crate) fn exp_into(x: &[f64], out: &mut [f64]) {
    pulp::Arch::new().dispatch(ExpInto { x, out });
}

/// Modified Arrhenius rate constants `k = A T^b e^(-E/RT)` of many reactions,
/// one array per parameter.
#[derive(Clone, Debug, Default)]
pub(crate) struct ArrheniusArrays {
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    pub e_over_r: Vec<f64>,
}

impl ArrheniusArrays {
    pub fn push(&mut self, r: &crate::mechanism::Arrhenius) {
        self.a.push(r.a);
        self.b.push(r.b);
        self.e_over_r.push(r.e_over_r);
    }

    pub fn len(&self) -> usize {
        self.a.len()
    }

    /// `k[i]` and, when given, `dlnk[i] = d ln k_i / dT`, at the temperature
    /// whose log and inverse are given; `arg` is scratch (as long as `k`).
    pub fn eval(
        &self,
        ln_t: f64,
        inv_t: f64,
        arg: &mut [f64],
        k: &mut [f64],
        dlnk: Option<&mut [f64]>,
    ) {
        pulp::Arch::new().dispatch(ArrheniusEval {
            rates: self,
            ln_t,
            inv_t,
            arg,
            k,
            dlnk,
        });
    }
}

struct ArrheniusEval<'a> {
    rates: &'a ArrheniusArrays,
    ln_t: f64,
    inv_t: f64,
    arg: &'a mut [f64],
    k: &'a mut [f64],
    dlnk: Option<&'a mut [f64]>,
}

impl WithSimd for ArrheniusEval<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let ArrheniusEval {
            rates,
            ln_t,
            inv_t,
            arg,
            k,
            dlnk,
        } = self;
        let n = rates.len();
        let (arg, k) = (&mut arg[..n], &mut k[..n]);
        for ((x, &b), &e) in arg.iter_mut().zip(&rates.b).zip(&rates.e_over_r) {
            *x = b * ln_t - e * inv_t;
        }
        for ((kv, &x), &a) in k.iter_mut().zip(&*arg).zip(&rates.a) {
            *kv = a * exp_lane(x);
        }
        let outside = arg
            .iter()
            .fold(false, |any, &v| any | !(v > LOW && v < HIGH));
        if outside {
            for ((kv, &x), &a) in k.iter_mut().zip(&*arg).zip(&rates.a) {
                if !(x > LOW && x < HIGH) {
                    *kv = a * libm::exp(x);
                }
            }
        }
        if let Some(dlnk) = dlnk {
            for ((d, &b), &e) in dlnk[..n].iter_mut().zip(&rates.b).zip(&rates.e_over_r) {
                *d = (b + e * inv_t) * inv_t;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulp::Scalar;

    fn ulps(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs() / f64::EPSILON
    }

    /// Arguments over the whole range, near its ends and outside it.
    fn arguments() -> Vec<f64> {
        let mut xs = Vec::new();
        let mut x = -745.3;
        while x < 709.9 {
            for dx in [0.0, 1e-9, 0.3, 0.017, 0.5 * std::f64::consts::LN_2] {
                xs.push(x + dx);
            }
            x += 0.0731;
        }
        xs.extend([
            0.0, -0.0, 1e-300, -1e-300, 1e-20, 0.5, -0.5, 1.0, -707.9, -708.0, -708.1, 708.9,
            709.0, 709.5, 709.8, -745.2, -746.0, 1000.0, -1e33, 1e33,
        ]);
        xs
    }

    #[test]
    fn agrees_with_libm_within_two_ulp_and_guards_the_ends() {
        let xs = arguments();
        let mut out = vec![0.0; xs.len()];
        exp_into(&xs, &mut out);
        let mut worst = 0.0f64;
        for (&x, &e) in xs.iter().zip(&out) {
            let want = libm::exp(x);
            if want.is_finite() && want > f64::MIN_POSITIVE {
                worst = worst.max(ulps(e, want));
            } else {
                // Subnormal, zero or infinite: libm's own value.
                assert_eq!(e.to_bits(), want.to_bits(), "exp({x})");
            }
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
        let mut special = [0.0; 4];
        exp_into(&[0.0, -1e33, 1000.0, f64::NAN], &mut special);
        assert_eq!(special[..3], [1.0, 0.0, f64::INFINITY]);
        assert!(special[3].is_nan());
    }

    /// The runtime choice, the baseline build, AVX2 and AVX-512 (where the CPU has them).
    fn every_width(xs: &[f64]) -> Vec<Vec<f64>> {
        let run = |f: &dyn Fn(ExpInto<'_>)| {
            let mut out = vec![0.0; xs.len()];
            f(ExpInto {
                x: xs,
                out: &mut out,
            });
            out
        };
        let mut outs = vec![
            run(&|op| op.with_simd(Scalar::new())),
            run(&|op| pulp::Arch::new().dispatch(op)),
        ];
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(simd) = pulp::x86::V3::try_new() {
                outs.push(run(&|op| Simd::vectorize(simd, op)));
            }
            if let Some(simd) = pulp::x86::V4::try_new() {
                outs.push(run(&|op| Simd::vectorize(simd, op)));
            }
        }
        outs
    }

    #[test]
    fn every_vector_width_gives_the_same_bits() {
        let xs = arguments();
        let outs = every_width(&xs);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for out in &outs[1..] {
            assert_eq!(bits(out), bits(&outs[0]));
        }
        // And the lanes are the scalar function, element by element.
        for (&x, &e) in xs.iter().zip(&outs[0]) {
            if x > LOW && x < HIGH {
                assert_eq!(e.to_bits(), exp_lane(x).to_bits(), "exp({x})");
            }
        }
    }

    #[test]
    fn arrhenius_arrays_match_the_scalar_formula() {
        let rates = ArrheniusArrays {
            a: vec![3.5e13, 1.0e10, -2.0e7, 7.0],
            b: vec![0.0, -1.0, 2.5, 0.0],
            e_over_r: vec![0.0, 8000.0, -300.0, 0.0],
        };
        let t: f64 = 1234.5;
        let (ln_t, inv_t) = (t.ln(), 1.0 / t);
        let mut arg = vec![0.0; 4];
        let mut k = vec![0.0; 4];
        let mut dlnk = vec![0.0; 4];
        rates.eval(ln_t, inv_t, &mut arg, &mut k, Some(&mut dlnk));
        for i in 0..4 {
            let (a, b, e) = (rates.a[i], rates.b[i], rates.e_over_r[i]);
            let want = a * t.powf(b) * (-e / t).exp();
            assert!(ulps(k[i], want) < 8.0, "k[{i}] {} vs {want}", k[i]);
            assert_eq!(dlnk[i], (b + e * inv_t) * inv_t);
        }
        // No activation energy and no temperature exponent: A itself.
        assert_eq!(k[0], 3.5e13);
        assert_eq!(k[3], 7.0);
    }
}
