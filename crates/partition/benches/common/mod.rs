//! Seeded workloads shared by the benchmarks.

#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

/// Weight distributions of the benchmark cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dist {
    /// Uniform in [0, 1).
    Uniform,
    /// Lognormal, mu = 0, sigma = 1.
    LogNormal,
    /// Uniform, with a few evenly spread ranks (max(1, p / 64)) 3x heavier.
    Hotspot,
}

impl Dist {
    /// All cases.
    pub const ALL: [Dist; 3] = [Dist::Uniform, Dist::LogNormal, Dist::Hotspot];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Dist::Uniform => "uniform",
            Dist::LogNormal => "lognormal",
            Dist::Hotspot => "hotspot",
        }
    }
}

/// `p` ranks of `n` cells each, seeded.
pub fn weights(p: usize, n: usize, dist: Dist, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((p as u64) << 20) ^ (n as u64));
    let ln = LogNormal::new(0.0, 1.0).expect("valid lognormal");
    let few = (p / 64).max(1);
    let stride = p / few;
    (0..p)
        .map(|r| {
            let hot = dist == Dist::Hotspot && r % stride == 0;
            (0..n)
                .map(|_| match dist {
                    Dist::LogNormal => ln.sample(&mut rng),
                    _ => {
                        let w: f64 = rng.gen();
                        if hot {
                            3.0 * w
                        } else {
                            w
                        }
                    }
                })
                .collect()
        })
        .collect()
}

/// Multiplies every weight by an independent factor in [0.8, 1.2).
pub fn noisy(w: &[Vec<f64>], seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    w.iter()
        .map(|r| r.iter().map(|&x| x * rng.gen_range(0.8..1.2)).collect())
        .collect()
}
