//! The same simulation on one process, without MPI or balancing: the
//! reference the distributed runs must match bit for bit.

use ndarray::{Array2, Array3, Axis};
use quicklb_kinetics::{Mechanism, Reactor};
use quicklb_stencil::{fill_halo, laplacian, Stencil};

use super::config::Config;
use super::error::{FlameError, Result};
use super::initial::initial_temperature;
use super::simulation::{add_scaled, BOUNDARY};

/// Runs `steps` steps of `config`'s flame on one process; returns the fields
/// `[T, Y_0, …, Y_{K-1}]`, shape `(K + 1, N, N)`.
pub fn serial(mech: &Mechanism, config: &Config, steps: usize) -> Result<Array3<f64>> {
    config.check(mech, 1)?;
    let (n, k) = (config.size, mech.num_species());
    let p = &config.physics;
    let mut fields = Array3::<f64>::zeros((k + 1, n + 2, n + 2));
    for i in 0..n {
        for j in 0..n {
            fields[[0, i + 1, j + 1]] =
                initial_temperature(n, i, j, p.temperature, p.kernel_temperature);
            for (s, &y) in p.mass_fractions.iter().enumerate() {
                fields[[s + 1, i + 1, j + 1]] = y;
            }
        }
    }
    let mut reactor = Reactor::new(mech, p.reactor);
    let mut lap = Array2::<f64>::zeros((n, n));
    let mut state = vec![0.0; k + 1];
    // Each cell's integrator step size, carried from step to step as the
    // distributed runs carry it in the cell.
    let mut step_sizes = vec![0.0; n * n];
    let sigma = p.diffusion_number();
    for step in 0..steps {
        for mut field in fields.axis_iter_mut(Axis(0)) {
            fill_halo(field.view_mut(), BOUNDARY)?;
            laplacian(&Stencil::FivePoint, field.view(), lap.view_mut())?;
            add_scaled(field.as_slice_mut().expect("standard layout"), &lap, sigma);
        }
        for i in 1..=n {
            for j in 1..=n {
                for (f, s) in state.iter_mut().enumerate() {
                    *s = fields[[f, i, j]];
                }
                let step_size = &mut step_sizes[(i - 1) * n + j - 1];
                reactor
                    .advance_from_step(&mut state, p.pressure, p.dt, step_size)
                    .map_err(|e| FlameError::Chemistry {
                        step,
                        rank: 0,
                        detail: format!(": {e}"),
                    })?;
                for (f, &s) in state.iter().enumerate() {
                    fields[[f, i, j]] = s;
                }
            }
        }
    }
    let interior: Vec<f64> = fields
        .axis_iter(Axis(0))
        .flat_map(|f| {
            quicklb_stencil::interior(f)
                .iter()
                .copied()
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(Array3::from_shape_vec((k + 1, n, n), interior).expect("(K + 1) x N x N values"))
}
