//! The crate's one error type.

/// Everything that can go wrong while loading a mechanism or integrating a reactor.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML, or not a Cantera mechanism (a missing or malformed entry).
    #[error("not a valid Cantera mechanism: {0}")]
    Parse(String),
    /// A reaction uses a feature this crate does not implement. Never skipped silently.
    #[error("reaction `{reaction}`: unsupported feature: {feature}")]
    Unsupported {
        /// The reaction's equation, as written in the file.
        reaction: String,
        /// What is not supported (for example `type: pressure-dependent-Arrhenius`).
        feature: String,
    },
    /// A species' thermodynamic model is not supported (only NASA7 is).
    #[error("species `{species}`: unsupported thermo: {feature}")]
    UnsupportedThermo {
        /// The species.
        species: String,
        /// What is not supported.
        feature: String,
    },
    /// The phase is not an ideal gas, or the file has no ideal-gas phase.
    #[error("phase `{phase}`: unsupported: {feature}")]
    UnsupportedPhase {
        /// The phase name (empty when the file has none).
        phase: String,
        /// What is not supported.
        feature: String,
    },
    /// A species name that the mechanism (or its phase) does not define.
    #[error("unknown species `{species}` in {context}")]
    UnknownSpecies {
        /// The name.
        species: String,
        /// Where it was used (a reaction equation, a mixture string, ...).
        context: String,
    },
    /// Bad arguments: wrong state length, non-positive temperature or pressure, NaN, ...
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The integrator failed (too many steps, step size underflow, non-finite state).
    #[error("integration failed at t = {t:e} s: {reason}")]
    Integration {
        /// Time reached within the call.
        t: f64,
        /// Why.
        reason: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
