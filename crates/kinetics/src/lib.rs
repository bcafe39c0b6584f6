#![doc = include_str!("../README.md")]
//!
//! Detailed gas-phase chemical kinetics read from Cantera YAML mechanisms, and a
//! stiff adiabatic constant-pressure reactor for one cell.
//!
//! - [`Mechanism`]: an ideal-gas phase (NASA7 species; elementary, three-body
//!   and falloff reactions, Lindemann and Troe; duplicates; reverse rates from
//!   equilibrium constants), loaded from a file ([`Mechanism::from_file`]) or
//!   the bundled H2/O2 mechanism ([`Mechanism::bundled_h2_o2`]). What it cannot
//!   represent is an error naming the reaction and the feature.
//! - [`Reactor`]: state `[T, Y_0, .., Y_{K-1}]`, advanced by a variable-order
//!   BDF method (or, [`Method::Rodas4`], an adaptive RODAS4 Rosenbrock method)
//!   with the analytic Jacobian, no allocation per call, bitwise reproducible.
//! - [`ignition`] and [`equilibrium_temperature`]: what a user checks against
//!   their own tools.
//!
//! ```
//! use quicklb_kinetics::{Mechanism, Reactor, ReactorOptions};
//!
//! let mech = Mechanism::bundled_h2_o2();
//! let mut state = vec![1100.0];
//! state.extend(mech.mass_fractions("H2:2, O2:1, N2:3.76").unwrap());
//! let mut reactor = Reactor::new(&mech, ReactorOptions::default());
//! reactor.advance(&mut state, 101325.0, 2e-4).unwrap();
//! assert!(state[0] > 2000.0);
//! ```

// Numeric kernels index several arrays in lockstep; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

mod bdf;
mod equilibrium;
mod error;
mod fastexp;
mod fastlog;
mod ignition;
mod kinetics;
mod layout;
mod linalg;
mod mechanism;
mod parse;
mod reactor;
mod rosenbrock;
mod step_size;
mod thermo;
mod units;
mod vexp;

pub use error::{Error, Result};
pub use ignition::{equilibrium_temperature, ignition, Ignition};
pub use mechanism::{Mechanism, BUNDLED_H2_O2_YAML};
pub use reactor::{Method, Reactor, ReactorOptions, StepStats, MAX_ATOL};
pub use units::{GAS_CONSTANT, ONE_ATM};
