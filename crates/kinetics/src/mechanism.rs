//! A parsed mechanism: the species of one ideal-gas phase with their NASA7
//! thermo, and its reactions, in SI units (m, s, kmol, K).

use std::path::Path;
use std::sync::Arc;

use crate::thermo::Nasa7;
use crate::{Error, Result};

/// Modified Arrhenius rate `A T^b exp(-Ea / RT)`, with `A` in SI-kmol units and
/// `Ea / R` in K.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arrhenius {
    pub a: f64,
    pub b: f64,
    pub e_over_r: f64,
}

/// Collision efficiencies of a third body: `[M] = Σ eff_k C_k`.
#[derive(Clone, Debug)]
pub(crate) struct Efficiencies {
    /// Efficiency of every species not listed.
    pub default: f64,
    /// `(species, eff_k - default)` for the listed species.
    pub excess: Vec<(usize, f64)>,
}

/// The blending function of a falloff reaction.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FalloffForm {
    /// `F = 1`.
    Lindemann,
    /// Troe's `F_cent = (1 - a) exp(-T/T3) + a exp(-T/T1) [+ exp(-T2/T)]`.
    Troe {
        a: f64,
        inv_t3: f64,
        inv_t1: f64,
        /// 0 when the 4th parameter is absent.
        t2: f64,
    },
}

/// How the forward rate depends on pressure.
#[derive(Clone, Debug)]
pub(crate) enum RateKind {
    /// `kf = k(T)`.
    Elementary,
    /// `kf = k(T) [M]`.
    ThreeBody(Efficiencies),
    /// `kf = k_inf Pr / (1 + Pr) F`, `Pr = k_0 [M] / k_inf`; `rate` is `k_inf`.
    Falloff {
        low: Arrhenius,
        efficiencies: Efficiencies,
        form: FalloffForm,
    },
}

/// Most stoichiometric units on one side of a reaction (`2 OH` counts 2).
pub(crate) const MAX_UNITS: usize = 6;

/// One side of a reaction as a multiset of species, one entry per unit
/// (`2 OH + H` is `[OH, OH, H]`): products of concentrations and their
/// derivatives need no powers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Units {
    pub species: [u32; MAX_UNITS],
    pub len: u8,
}

impl Units {
    pub fn from_pairs(pairs: &[(usize, u32)]) -> Option<Units> {
        let mut u = Units {
            species: [0; MAX_UNITS],
            len: 0,
        };
        for &(k, n) in pairs {
            for _ in 0..n {
                if u.len as usize == MAX_UNITS {
                    return None;
                }
                u.species[u.len as usize] = k as u32;
                u.len += 1;
            }
        }
        Some(u)
    }

    #[inline]
    pub fn as_slice(&self) -> &[u32] {
        &self.species[..self.len as usize]
    }
}

/// One reaction.
#[derive(Clone, Debug)]
pub(crate) struct Reaction {
    pub equation: String,
    /// The two sides as multisets of species.
    pub reactant_units: Units,
    pub product_units: Units,
    /// Net stoichiometric coefficients `ν_k'' - ν_k'`, nonzero only.
    pub net: Vec<(usize, f64)>,
    /// `Σ ν_k'' - Σ ν_k'` (for the standard concentration in `Kc`).
    pub delta_nu: f64,
    /// `delta_nu` as an integer.
    pub delta_nu_int: i32,
    pub reversible: bool,
    /// High-pressure rate for falloff, the only rate otherwise.
    pub rate: Arrhenius,
    pub kind: RateKind,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub phase: String,
    pub species: Vec<String>,
    /// kg/kmol.
    pub weights: Vec<f64>,
    pub thermo: Vec<Nasa7>,
    pub elements: Vec<String>,
    /// Per species: `(element index, atoms)`.
    pub composition: Vec<Vec<(usize, f64)>>,
    pub reactions: Vec<Reaction>,
}

/// The bundled H2/O2 mechanism (Li, Zhao, Kazakov & Dryer 2004), in Cantera YAML.
pub const BUNDLED_H2_O2_YAML: &str = include_str!("../mechanisms/h2o2_li2004.yaml");

/// An ideal-gas phase: species with NASA7 thermo and their reactions.
///
/// Cheap to clone (the data is shared).
///
/// ```
/// use quicklb_kinetics::Mechanism;
///
/// let mech = Mechanism::bundled_h2_o2();
/// assert_eq!(mech.num_species(), 10);
/// let y = mech.mass_fractions("H2:2, O2:1, N2:3.76").unwrap();
/// assert!((y.iter().sum::<f64>() - 1.0).abs() < 1e-12);
/// assert!(mech.mass_fractions("H2:1, XE:1").is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Mechanism {
    pub(crate) inner: Arc<Inner>,
}

impl Mechanism {
    /// Loads the first ideal-gas phase of a Cantera YAML file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Mechanism> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Mechanism::from_yaml_str(&text, None)
    }

    /// Parses Cantera YAML text; `phase` picks a phase by name, `None` takes the
    /// first ideal-gas phase.
    pub fn from_yaml_str(text: &str, phase: Option<&str>) -> Result<Mechanism> {
        Ok(Mechanism {
            inner: Arc::new(crate::parse::parse(text, phase)?),
        })
    }

    /// The H2/O2 mechanism shipped in this crate: Li, Zhao, Kazakov & Dryer,
    /// Int. J. Chem. Kinet. 36 (2004) 566 (19 reactions), with GRI-Mech 3.0
    /// thermo, species H2 O2 H2O H O OH HO2 H2O2 AR N2. Its text is
    /// [`BUNDLED_H2_O2_YAML`].
    pub fn bundled_h2_o2() -> Mechanism {
        Mechanism::from_yaml_str(BUNDLED_H2_O2_YAML, None)
            .expect("the bundled mechanism is valid (tested)")
    }

    /// The phase name.
    pub fn phase_name(&self) -> &str {
        &self.inner.phase
    }

    /// Number of species `K`.
    pub fn num_species(&self) -> usize {
        self.inner.species.len()
    }

    /// Number of reactions (each duplicate counts).
    pub fn num_reactions(&self) -> usize {
        self.inner.reactions.len()
    }

    /// Species names, in state order.
    pub fn species_names(&self) -> &[String] {
        &self.inner.species
    }

    /// Index of a species by exact name.
    pub fn species_index(&self, name: &str) -> Option<usize> {
        self.inner.species.iter().position(|s| s == name)
    }

    /// Molecular weights, kg/kmol, in state order.
    pub fn molecular_weights(&self) -> &[f64] {
        &self.inner.weights
    }

    /// Equations of the reactions, as written in the file.
    pub fn reaction_equations(&self) -> impl Iterator<Item = &str> {
        self.inner.reactions.iter().map(|r| r.equation.as_str())
    }

    /// Mass fractions from a mixture string of mole ratios, Cantera's syntax:
    /// `"H2:2, O2:1, N2:3.76"` (normalised; species not named are 0).
    pub fn mass_fractions(&self, mixture: &str) -> Result<Vec<f64>> {
        let x = self.mole_fractions(mixture)?;
        let w = &self.inner.weights;
        let mean: f64 = x.iter().zip(w).map(|(x, w)| x * w).sum();
        Ok(x.iter().zip(w).map(|(x, w)| x * w / mean).collect())
    }

    /// Mole fractions from a mixture string (see [`Mechanism::mass_fractions`]).
    pub fn mole_fractions(&self, mixture: &str) -> Result<Vec<f64>> {
        let mut x = vec![0.0; self.num_species()];
        let mut seen = vec![false; self.num_species()];
        for item in mixture.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item.rsplit_once(':').ok_or_else(|| {
                Error::InvalidInput(format!("mixture entry `{item}` is not `NAME:VALUE`"))
            })?;
            let name = name.trim();
            let k = self
                .species_index(name)
                .ok_or_else(|| Error::UnknownSpecies {
                    species: name.to_string(),
                    context: format!("mixture `{mixture}`"),
                })?;
            let v: f64 = value.trim().parse().map_err(|_| {
                Error::InvalidInput(format!("mixture entry `{item}`: `{value}` is not a number"))
            })?;
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::InvalidInput(format!(
                    "mixture entry `{item}`: amounts must be finite and >= 0"
                )));
            }
            if seen[k] {
                return Err(Error::InvalidInput(format!(
                    "species `{name}` appears twice in mixture `{mixture}`"
                )));
            }
            seen[k] = true;
            x[k] = v;
        }
        let total: f64 = x.iter().sum();
        if total <= 0.0 || total.is_nan() {
            return Err(Error::InvalidInput(format!(
                "mixture `{mixture}` has no positive amount"
            )));
        }
        x.iter_mut().for_each(|v| *v /= total);
        Ok(x)
    }
}
