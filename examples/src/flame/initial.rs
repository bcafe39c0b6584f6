//! The initial state: fresh premixed gas with two hot kernels off-centre.
//!
//! Both kernels sit in the upper half of the grid, one in each of its two
//! upper quarters, so that with row slabs the ignition and then the flame
//! fronts are on rank 0 of 2 (on ranks 0 and 1 of 4) while the other ranks
//! hold fresh gas whose chemistry is cheap: the imbalance the balancer
//! removes.

/// A hot kernel: a Gaussian bump of temperature, in fractions of the grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Kernel {
    /// Centre row, fraction of `N`.
    pub row: f64,
    /// Centre column, fraction of `N`.
    pub col: f64,
    /// Radius (the `1/e` distance of the bump), fraction of `N` (at least
    /// [`MIN_RADIUS`] cells).
    pub radius: f64,
}

/// The two kernels: centred at rows `0.14 N` and `0.36 N`.
pub const KERNELS: [Kernel; 2] = [
    Kernel {
        row: 0.14,
        col: 0.30,
        radius: 0.05,
    },
    Kernel {
        row: 0.36,
        col: 0.68,
        radius: 0.04,
    },
];

/// The smallest kernel radius, cells: a smaller kernel diffuses away
/// before it ignites.
pub const MIN_RADIUS: f64 = 2.0;

/// Below this fraction of the kernel's excess the bump is cut off, so that
/// the fresh gas is exactly at the fresh temperature.
const CUTOFF: f64 = 1e-3;

/// The initial temperature of global cell `(i, j)` of an `n × n` grid: `t0`,
/// raised towards `t_kernel` near the kernels (the larger of the two bumps).
///
/// ```
/// use quicklb_examples::flame::initial::initial_temperature;
/// let n = 100;
/// assert_eq!(initial_temperature(n, 14, 30, 300.0, 1500.0), 1500.0); // a kernel centre
/// assert_eq!(initial_temperature(n, 90, 10, 300.0, 1500.0), 300.0); // fresh gas
/// ```
pub fn initial_temperature(n: usize, i: usize, j: usize, t0: f64, t_kernel: f64) -> f64 {
    let n = n as f64;
    let (y, x) = (i as f64, j as f64);
    let mut bump = 0.0f64;
    for k in &KERNELS {
        let (dy, dx) = (y - k.row * n, x - k.col * n);
        let r = (k.radius * n).max(MIN_RADIUS);
        let b = (-(dy * dy + dx * dx) / (r * r)).exp();
        if b >= CUTOFF {
            bump = bump.max(b);
        }
    }
    t0 + (t_kernel - t0) * bump
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_sit_in_the_upper_half_and_fresh_gas_is_exact() {
        let n = 128;
        let mut hot_rows = Vec::new();
        for i in 0..n {
            for j in 0..n {
                let t = initial_temperature(n, i, j, 300.0, 1500.0);
                assert!((300.0..=1500.0).contains(&t));
                if t > 300.0 {
                    hot_rows.push(i);
                }
            }
        }
        assert!(!hot_rows.is_empty());
        // All heat in rank 0's half at 2 ranks, in ranks 0 and 1 at 4.
        assert!(hot_rows.iter().all(|&i| i < n / 2), "{hot_rows:?}");
        assert!(hot_rows.iter().any(|&i| i < n / 4));
        assert!(hot_rows.iter().any(|&i| (n / 4..n / 2).contains(&i)));
        // Small grids still get a kernel.
        assert!(initial_temperature(8, 1, 2, 300.0, 1500.0) > 300.0);
    }
}
