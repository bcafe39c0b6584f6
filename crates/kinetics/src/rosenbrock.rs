//! Rosenbrock tableaus in the transformed form of KPP (Sandu et al. 1997):
//!
//! ```text
//! (1/(h γ) I - J) K_i = f(y + Σ_{j<i} A_ij K_j) + Σ_{j<i} (C_ij / h) K_j
//! y_new = y + Σ M_j K_j,   err = Σ E_j K_j
//! ```
//!
//! for autonomous systems (the reactor's right-hand side has no explicit time).
//!
//! The reactor uses RODAS4. RODAS3 is kept (its order is tested) because it was
//! measured against it, as was Hairer & Wanner's L-stable ROS4: on stoichiometric H2/air ignition at
//! 1000 K (rtol 1e-6, atol 1e-12) RODAS4 takes 330 steps, ROS4 1187 and RODAS3
//! 1104; on gri30 CH4/air at 1200 K 518, 1904 and 1926. Per step RODAS4 costs
//! the Jacobian and 5 right-hand sides, ROS4 and RODAS3 the Jacobian and 2, so
//! RODAS4 is the fastest of the three by 2-3x (ROS4, not stiffly accurate,
//! also showed order reduction on this stiff system).

/// Most stages of any tableau here.
pub(crate) const MAX_STAGES: usize = 6;

/// One method.
#[derive(Debug)]
pub(crate) struct Tableau {
    pub stages: usize,
    pub gamma: f64,
    pub a: [[f64; MAX_STAGES]; MAX_STAGES],
    pub c: [[f64; MAX_STAGES]; MAX_STAGES],
    pub m: [f64; MAX_STAGES],
    pub e: [f64; MAX_STAGES],
    /// Whether stage `i` evaluates `f` anew (else it reuses the previous stage's).
    pub new_f: [bool; MAX_STAGES],
    /// Order of the error estimate plus one: the step-size exponent is `1/elo`.
    pub elo: f64,
}

/// RODAS3: 4 stages, order 3, embedded order 2, stiffly accurate (as in
/// `examples/src/chemistry.rs`).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const RODAS3: Tableau = Tableau {
    stages: 4,
    gamma: 0.5,
    a: [
        [0.0; 6],
        [0.0; 6],
        [2.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [2.0, 0.0, 1.0, 0.0, 0.0, 0.0],
        [0.0; 6],
        [0.0; 6],
    ],
    c: [
        [0.0; 6],
        [4.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [1.0, -1.0, 0.0, 0.0, 0.0, 0.0],
        [1.0, -1.0, -8.0 / 3.0, 0.0, 0.0, 0.0],
        [0.0; 6],
        [0.0; 6],
    ],
    m: [2.0, 0.0, 1.0, 1.0, 0.0, 0.0],
    e: [0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    new_f: [true, false, true, true, false, false],
    elo: 3.0,
};

const R4_A7: f64 = 1.221224509226641;
const R4_A8: f64 = 6.019134481288629;
const R4_A9: f64 = 12.53708332932087;
const R4_A10: f64 = -0.687886036105895;

/// RODAS4 (Hairer & Wanner): 6 stages, order 4, embedded order 3, stiffly accurate.
pub(crate) const RODAS4: Tableau = Tableau {
    stages: 6,
    gamma: 0.25,
    a: [
        [0.0; 6],
        [1.544, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.9466785280815826, 0.2557011698983284, 0.0, 0.0, 0.0, 0.0],
        [
            3.314825187068521,
            2.896124015972201,
            0.9986419139977817,
            0.0,
            0.0,
            0.0,
        ],
        [R4_A7, R4_A8, R4_A9, R4_A10, 0.0, 0.0],
        [R4_A7, R4_A8, R4_A9, R4_A10, 1.0, 0.0],
    ],
    c: [
        [0.0; 6],
        [-5.6688, 0.0, 0.0, 0.0, 0.0, 0.0],
        [-2.430093356833875, -0.2063599157091915, 0.0, 0.0, 0.0, 0.0],
        [
            -0.1073529058151375,
            -9.594562251023355,
            -20.47028614809616,
            0.0,
            0.0,
            0.0,
        ],
        [
            7.496443313967647,
            -10.24680431464352,
            -33.99990352819905,
            11.7089089320616,
            0.0,
            0.0,
        ],
        [
            8.083246795921522,
            -7.981132988064893,
            -31.52159432874371,
            16.31930543123136,
            -6.058818238834054,
            0.0,
        ],
    ],
    m: [R4_A7, R4_A8, R4_A9, R4_A10, 1.0, 1.0],
    e: [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
    new_f: [true; 6],
    elo: 4.0,
};
