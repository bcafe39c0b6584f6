//! The reactions of a mechanism rearranged for the rate kernels: one array per
//! quantity (structure of arrays), the sides of every reaction padded to the
//! mechanism's widest, the three-body and falloff reactions in lists of their
//! own, identical efficiency sets shared.
//!
//! The kernels then run as short, branch-free passes over all reactions
//! (rate constants, equilibrium constants, rates of progress, the scatter
//! into production rates) instead of one pass that branches on the kind of
//! every reaction and follows its pointers.

use crate::mechanism::{Efficiencies, FalloffForm, Inner, RateKind, Reaction, MAX_UNITS};
use crate::vexp::ArrheniusArrays;

/// A falloff reaction's blending (its low-pressure rate is in [`RateLayout::falloff_low`]).
#[derive(Clone, Debug)]
pub(crate) struct Falloff {
    pub reaction: u32,
    /// Index into [`RateLayout::efficiency_sets`].
    pub set: u32,
    pub form: FalloffForm,
}

/// Padding species, `K .. K + PAD_SPECIES`, taken in turn by successive
/// reactions: the scatter of rates of progress into one sink entry would
/// chain every reaction's update to the previous one's through memory.
pub(crate) const PAD_SPECIES: usize = 4;

/// Marks a reaction without a third body in [`RateLayout::set_of`].
pub(crate) const NO_SET: u32 = u32::MAX;

/// The reactions of one mechanism of `K` species as flat arrays.
///
/// Species indices `K .. K + PAD_SPECIES` are the padding of the sides: the
/// kernels keep entries holding 1 there in every array of factors
/// (concentrations, `exp(±g/RT)`) and sinks for the scatter of production rates.
#[derive(Clone, Debug)]
pub(crate) struct RateLayout {
    /// Units per side (`2 OH` counts 2) of the widest reactant / product
    /// side, rounded up to 2, 3 or `MAX_UNITS` (both `MAX_UNITS` if one is).
    pub reactant_width: usize,
    pub product_width: usize,
    /// `reactant_width` entries per reaction, the species of each unit, padded with `K`.
    pub reactants: Vec<u32>,
    /// `product_width` entries per reaction, padded with `K`.
    pub products: Vec<u32>,
    /// Units actually on each side (the Jacobian differentiates through these only).
    pub reactant_len: Vec<u8>,
    pub product_len: Vec<u8>,
    /// High-pressure rate for falloff, the only rate otherwise.
    pub rate: ArrheniusArrays,
    /// 1 for a reversible reaction, 0 for an irreversible one.
    pub reversible: Vec<f64>,
    /// `Δν + reactant_width`: the index of `c0^-Δν` in the kernels' table of powers.
    pub c0_power: Vec<u8>,
    /// `Σ ν'' - Σ ν'`.
    pub delta_nu: Vec<f64>,
    /// Net stoichiometry `ν'' - ν'` (nonzero only), reaction `i` at
    /// `net_start[i]..net_start[i + 1]`.
    pub net_start: Vec<u32>,
    pub net_species: Vec<u32>,
    pub net_nu: Vec<f64>,
    /// The distinct third-body efficiency sets.
    pub efficiency_sets: Vec<Efficiencies>,
    /// Per reaction: its set, or [`NO_SET`].
    pub set_of: Vec<u32>,
    /// `(reaction, set)` of the three-body reactions.
    pub three_body: Vec<(u32, u32)>,
    pub falloff: Vec<Falloff>,
    /// The low-pressure rates of `falloff`, in its order.
    pub falloff_low: ArrheniusArrays,
}

impl RateLayout {
    pub fn new(mech: &Inner) -> RateLayout {
        let k = mech.species.len() as u32;
        let reactions = &mech.reactions;
        // The most units on one side over all reactions, at least one.
        let widest =
            |units: fn(&Reaction) -> usize| reactions.iter().map(units).max().unwrap_or(0).max(1);
        let reactant_width = widest(|r| r.reactant_units.len as usize);
        let product_width = widest(|r| r.product_units.len as usize);
        // The kernels are compiled for sides of 2, 3 or MAX_UNITS units.
        let round = |w: usize| {
            if w <= 2 {
                2
            } else if w <= 3 {
                3
            } else {
                MAX_UNITS
            }
        };
        let (reactant_width, product_width) = match (round(reactant_width), round(product_width)) {
            (r, p) if r == MAX_UNITS || p == MAX_UNITS => (MAX_UNITS, MAX_UNITS),
            widths => widths,
        };
        // Reaction `i` pads with species `K + i % PAD_SPECIES`.
        let padded = |units: &[u32], width: usize, i: u32| {
            let mut v = units.to_vec();
            v.resize(width, k + i % PAD_SPECIES as u32);
            v
        };
        let mut layout = RateLayout {
            reactant_width,
            product_width,
            reactants: Vec::new(),
            products: Vec::new(),
            reactant_len: Vec::new(),
            product_len: Vec::new(),
            rate: ArrheniusArrays::default(),
            reversible: Vec::new(),
            c0_power: Vec::new(),
            delta_nu: Vec::new(),
            net_start: vec![0],
            net_species: Vec::new(),
            net_nu: Vec::new(),
            efficiency_sets: Vec::new(),
            set_of: Vec::new(),
            three_body: Vec::new(),
            falloff: Vec::new(),
            falloff_low: ArrheniusArrays::default(),
        };
        for (i, r) in reactions.iter().enumerate() {
            let i = i as u32;
            layout
                .reactants
                .extend(padded(r.reactant_units.as_slice(), reactant_width, i));
            layout
                .products
                .extend(padded(r.product_units.as_slice(), product_width, i));
            layout.reactant_len.push(r.reactant_units.len);
            layout.product_len.push(r.product_units.len);
            layout.rate.push(&r.rate);
            layout.reversible.push(if r.reversible { 1.0 } else { 0.0 });
            // Δν lies in [-reactant_width, product_width].
            layout
                .c0_power
                .push((r.delta_nu_int + reactant_width as i32) as u8);
            layout.delta_nu.push(r.delta_nu);
            for &(s, nu) in &r.net {
                layout.net_species.push(s as u32);
                layout.net_nu.push(nu);
            }
            layout.net_start.push(layout.net_species.len() as u32);
            let set = match &r.kind {
                RateKind::Elementary => NO_SET,
                RateKind::ThreeBody(e) => {
                    let set = layout.set_index(e);
                    layout.three_body.push((i, set));
                    set
                }
                RateKind::Falloff {
                    low,
                    efficiencies,
                    form,
                } => {
                    let set = layout.set_index(efficiencies);
                    layout.falloff_low.push(low);
                    layout.falloff.push(Falloff {
                        reaction: i,
                        set,
                        form: *form,
                    });
                    set
                }
            };
            layout.set_of.push(set);
        }
        layout
    }

    /// The index of `e` among the distinct sets, adding it if new (equal
    /// means bitwise equal: a shared set gives the same `[M]` bits).
    fn set_index(&mut self, e: &Efficiencies) -> u32 {
        let same = |a: &Efficiencies| {
            a.default.to_bits() == e.default.to_bits()
                && a.excess.len() == e.excess.len()
                && a.excess
                    .iter()
                    .zip(&e.excess)
                    .all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
        };
        match self.efficiency_sets.iter().position(same) {
            Some(s) => s as u32,
            None => {
                self.efficiency_sets.push(e.clone());
                (self.efficiency_sets.len() - 1) as u32
            }
        }
    }

    pub fn num_reactions(&self) -> usize {
        self.rate.len()
    }

    /// Net stoichiometry of reaction `i`: `(species, ν'' - ν')`.
    #[inline]
    pub fn net(&self, i: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let range = self.net_start[i] as usize..self.net_start[i + 1] as usize;
        self.net_species[range.clone()]
            .iter()
            .zip(&self.net_nu[range])
            .map(|(&s, &nu)| (s as usize, nu))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mechanism;

    #[test]
    fn the_bundled_mechanism_is_laid_out_completely() {
        let mech = Mechanism::bundled_h2_o2();
        let inner = &mech.inner;
        let k = inner.species.len() as u32;
        let layout = RateLayout::new(inner);
        assert_eq!(layout.num_reactions(), inner.reactions.len());
        for (i, r) in inner.reactions.iter().enumerate() {
            let rw = layout.reactant_width;
            let side = &layout.reactants[i * rw..(i + 1) * rw];
            let units = r.reactant_units.as_slice();
            assert_eq!(&side[..units.len()], units, "{}", r.equation);
            let pad = k + (i % PAD_SPECIES) as u32;
            assert!(side[units.len()..].iter().all(|&s| s == pad));
            let net: Vec<(usize, f64)> = layout.net(i).collect();
            assert_eq!(net, r.net, "{}", r.equation);
            let set = layout.set_of[i];
            assert_eq!(set == NO_SET, matches!(r.kind, RateKind::Elementary));
        }
        // Three-body and falloff reactions each listed once; the argon
        // colliders and the ordinary `+ M` sets differ, repeated sets are shared.
        let listed = layout.three_body.len() + layout.falloff.len();
        let with_set = layout.set_of.iter().filter(|&&s| s != NO_SET).count();
        assert_eq!(listed, with_set);
        assert!(layout.efficiency_sets.len() < with_set);
    }
}
