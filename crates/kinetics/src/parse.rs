//! Cantera YAML (the format of Cantera 2.5 and later) to [`Inner`].
//!
//! Read with `yaml-rust2` into a generic tree, then walked by hand: Cantera's
//! schema is loose (numbers or strings with units, optional keys that change
//! the meaning of others), so every key a reaction may carry is checked, and a
//! key this crate does not implement is an [`Error::Unsupported`] naming the
//! reaction, never ignored.

use std::collections::HashMap;

use yaml_rust2::{Yaml, YamlLoader};

use crate::mechanism::{
    Arrhenius, Efficiencies, FalloffForm, Inner, RateKind, Reaction, Units, MAX_UNITS,
};
use crate::thermo::{atomic_weight, Nasa7};
use crate::units::{self, UnitSystem, ONE_ATM};
use crate::{Error, Result};

fn perr(msg: impl Into<String>) -> Error {
    Error::Parse(msg.into())
}

fn get<'a>(map: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    match map {
        Yaml::Hash(h) => h.get(&Yaml::String(key.to_string())),
        _ => None,
    }
}

fn as_number(y: &Yaml) -> Option<f64> {
    match y {
        Yaml::Real(s) => s.parse().ok(),
        Yaml::Integer(i) => Some(*i as f64),
        Yaml::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn number(map: &Yaml, key: &str, what: &str) -> Result<f64> {
    let y = get(map, key).ok_or_else(|| perr(format!("{what}: missing `{key}`")))?;
    as_number(y).ok_or_else(|| perr(format!("{what}: `{key}` is not a number")))
}

fn string_list(y: &Yaml, what: &str) -> Result<Vec<String>> {
    match y {
        Yaml::Array(a) => a
            .iter()
            .map(|v| match v {
                Yaml::String(s) => Ok(s.clone()),
                _ => Err(perr(format!("{what}: expected a list of names"))),
            })
            .collect(),
        _ => Err(perr(format!("{what}: expected a list of names"))),
    }
}

fn scalar_text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

pub(crate) fn parse(text: &str, phase_name: Option<&str>) -> Result<Inner> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| perr(format!("YAML: {e}")))?;
    let doc = docs.first().ok_or_else(|| perr("empty document"))?;
    if !matches!(doc, Yaml::Hash(_)) {
        return Err(perr("the top level is not a mapping"));
    }
    let unit_system = match get(doc, "units") {
        None => UnitSystem::default(),
        Some(Yaml::Hash(h)) => {
            let mut entries = Vec::new();
            for (k, v) in h {
                let k = k.as_str().ok_or_else(|| perr("`units`: non-string key"))?;
                let v = v
                    .as_str()
                    .ok_or_else(|| perr(format!("`units`: `{k}` is not a unit string")))?;
                entries.push((k, v));
            }
            UnitSystem::from_entries(entries.into_iter())?
        }
        Some(_) => return Err(perr("`units` is not a mapping")),
    };

    let phases = match get(doc, "phases") {
        Some(Yaml::Array(a)) => a,
        _ => return Err(perr("no `phases` list (is this a Cantera YAML mechanism?)")),
    };
    let phase = match phase_name {
        Some(name) => {
            let p = phases
                .iter()
                .find(|p| get(p, "name").and_then(Yaml::as_str) == Some(name))
                .ok_or_else(|| perr(format!("no phase named `{name}`")))?;
            let thermo = get(p, "thermo").and_then(Yaml::as_str).unwrap_or("");
            if thermo != "ideal-gas" {
                return Err(Error::UnsupportedPhase {
                    phase: name.to_string(),
                    feature: format!("thermo model `{thermo}` (only ideal-gas)"),
                });
            }
            p
        }
        None => phases
            .iter()
            .find(|p| get(p, "thermo").and_then(Yaml::as_str) == Some("ideal-gas"))
            .ok_or_else(|| Error::UnsupportedPhase {
                phase: String::new(),
                feature: "the file has no ideal-gas phase".into(),
            })?,
    };
    let name = get(phase, "name")
        .and_then(Yaml::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(k) = get(phase, "kinetics").and_then(Yaml::as_str) {
        if k != "gas" && k != "bulk" {
            return Err(Error::UnsupportedPhase {
                phase: name,
                feature: format!("kinetics model `{k}`"),
            });
        }
    }
    let skip_undeclared_third_bodies = get(phase, "skip-undeclared-third-bodies")
        .and_then(Yaml::as_bool)
        .unwrap_or(false);

    // Elements: the phase's list, weights from the file's `elements` section or the table.
    let mut custom_weights: HashMap<String, f64> = HashMap::new();
    if let Some(Yaml::Array(els)) = get(doc, "elements") {
        for e in els {
            let sym = get(e, "symbol")
                .and_then(Yaml::as_str)
                .ok_or_else(|| perr("`elements`: entry without `symbol`"))?;
            let w = number(e, "atomic-weight", &format!("element `{sym}`"))?;
            custom_weights.insert(sym.to_string(), w);
        }
    }
    let elements = match get(phase, "elements") {
        Some(y) => string_list(y, &format!("phase `{name}`: `elements`"))?,
        None => Vec::new(),
    };
    let element_weight = |sym: &str| -> Result<f64> {
        custom_weights
            .get(sym)
            .copied()
            .or_else(|| atomic_weight(sym))
            .ok_or_else(|| perr(format!("unknown element `{sym}`")))
    };

    // Species.
    let species_defs: Vec<&Yaml> = match get(phase, "species") {
        None => section_entries(doc, "species", None)?,
        Some(Yaml::String(s)) if s == "all" => section_entries(doc, "species", None)?,
        Some(y @ Yaml::Array(items)) => {
            if items.iter().all(|i| matches!(i, Yaml::String(_))) {
                let names = string_list(y, "phase species")?;
                section_entries(doc, "species", Some(&names))?
            } else {
                let mut out = Vec::new();
                for item in items {
                    let Yaml::Hash(h) = item else {
                        return Err(perr("phase `species`: mixed list"));
                    };
                    for (k, v) in h {
                        let section = k.as_str().unwrap_or("");
                        if section.contains('/') {
                            return Err(Error::UnsupportedPhase {
                                phase: name.clone(),
                                feature: format!("species from another file (`{section}`)"),
                            });
                        }
                        match v {
                            Yaml::String(s) if s == "all" => {
                                out.extend(section_entries(doc, section, None)?)
                            }
                            _ => {
                                let names = string_list(v, "phase species")?;
                                out.extend(section_entries(doc, section, Some(&names))?)
                            }
                        }
                    }
                }
                out
            }
        }
        Some(_) => return Err(perr("phase `species`: expected `all` or a list")),
    };
    let mut species = Vec::new();
    let mut weights = Vec::new();
    let mut thermo = Vec::new();
    let mut composition = Vec::new();
    let mut elements_used = elements.clone();
    for def in &species_defs {
        let sname = get(def, "name")
            .and_then(scalar_text_ref)
            .ok_or_else(|| perr("species without `name`"))?;
        if species.contains(&sname) {
            return Err(perr(format!("species `{sname}` is defined twice")));
        }
        let comp = match get(def, "composition") {
            Some(Yaml::Hash(h)) => h,
            _ => return Err(perr(format!("species `{sname}`: no `composition`"))),
        };
        let mut w = 0.0;
        let mut c = Vec::new();
        for (e, n) in comp {
            let e = e
                .as_str()
                .ok_or_else(|| perr(format!("species `{sname}`: bad element")))?;
            let n = as_number(n)
                .ok_or_else(|| perr(format!("species `{sname}`: bad atom count for `{e}`")))?;
            if !elements.is_empty() && !elements.iter().any(|x| x == e) {
                return Err(perr(format!(
                    "species `{sname}` contains element `{e}`, not in phase `{name}`"
                )));
            }
            w += n * element_weight(e)?;
            let idx = match elements_used.iter().position(|x| x == e) {
                Some(i) => i,
                None => {
                    elements_used.push(e.to_string());
                    elements_used.len() - 1
                }
            };
            c.push((idx, n));
        }
        thermo.push(parse_nasa7(def, &sname)?);
        species.push(sname);
        weights.push(w);
        composition.push(c);
    }
    if species.is_empty() {
        return Err(perr(format!("phase `{name}` has no species")));
    }
    let index: HashMap<&str, usize> = species
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();

    // Reactions.
    let has_kinetics = get(phase, "kinetics").is_some();
    let mut sections: Vec<(String, bool)> = Vec::new(); // (section, declared-species only)
    match get(phase, "reactions") {
        None => {
            if has_kinetics && get(doc, "reactions").is_some() {
                sections.push(("reactions".into(), false));
            }
        }
        Some(Yaml::String(s)) => match s.as_str() {
            "all" => sections.push(("reactions".into(), false)),
            "declared-species" => sections.push(("reactions".into(), true)),
            "none" => {}
            other => return Err(perr(format!("phase `reactions`: unknown value `{other}`"))),
        },
        Some(Yaml::Array(items)) => {
            for item in items {
                match item {
                    Yaml::String(s) => sections.push((s.clone(), false)),
                    Yaml::Hash(h) => {
                        for (k, v) in h {
                            let section = k.as_str().unwrap_or("").to_string();
                            match v.as_str() {
                                Some("all") => sections.push((section, false)),
                                Some("declared-species") => sections.push((section, true)),
                                Some("none") => {}
                                _ => {
                                    return Err(perr(format!(
                                        "phase `reactions`: bad entry for `{section}`"
                                    )))
                                }
                            }
                        }
                    }
                    _ => return Err(perr("phase `reactions`: bad list")),
                }
            }
        }
        Some(_) => return Err(perr("phase `reactions`: expected a string or a list")),
    }
    let mut reactions = Vec::new();
    for (section, declared_only) in &sections {
        if section.contains('/') {
            return Err(Error::UnsupportedPhase {
                phase: name.clone(),
                feature: format!("reactions from another file (`{section}`)"),
            });
        }
        let list = match get(doc, section) {
            Some(Yaml::Array(a)) => a,
            _ => return Err(perr(format!("no reaction section `{section}`"))),
        };
        for r in list {
            if let Some(reaction) = parse_reaction(
                r,
                &index,
                &unit_system,
                *declared_only,
                skip_undeclared_third_bodies,
            )? {
                reactions.push(reaction);
            }
        }
    }
    Ok(Inner {
        phase: name,
        species,
        weights,
        thermo,
        elements: elements_used,
        composition,
        reactions,
    })
}

fn scalar_text_ref(y: &Yaml) -> Option<String> {
    scalar_text(y)
}

/// Entries of a species section, all or those named (in the order named).
fn section_entries<'a>(
    doc: &'a Yaml,
    section: &str,
    names: Option<&[String]>,
) -> Result<Vec<&'a Yaml>> {
    let list = match get(doc, section) {
        Some(Yaml::Array(a)) => a,
        _ => return Err(perr(format!("no species section `{section}`"))),
    };
    match names {
        None => Ok(list.iter().collect()),
        Some(names) => names
            .iter()
            .map(|n| {
                list.iter()
                    .find(|s| get(s, "name").and_then(scalar_text).as_deref() == Some(n))
                    .ok_or_else(|| Error::UnknownSpecies {
                        species: n.clone(),
                        context: format!("section `{section}`"),
                    })
            })
            .collect(),
    }
}

fn parse_nasa7(def: &Yaml, sname: &str) -> Result<Nasa7> {
    let th = get(def, "thermo").ok_or_else(|| perr(format!("species `{sname}`: no `thermo`")))?;
    let model = get(th, "model").and_then(Yaml::as_str).unwrap_or("");
    if model != "NASA7" {
        return Err(Error::UnsupportedThermo {
            species: sname.to_string(),
            feature: format!("model `{model}` (only NASA7)"),
        });
    }
    if let Some(p) = get(th, "reference-pressure") {
        let ok = match p {
            Yaml::String(s) => {
                let (v, u) = units::split_quantity(s)?;
                (u == "atm" && v == 1.0) || (u == "Pa" && v == ONE_ATM)
            }
            other => as_number(other) == Some(ONE_ATM),
        };
        if !ok {
            return Err(Error::UnsupportedThermo {
                species: sname.to_string(),
                feature: "reference pressure other than 1 atm".into(),
            });
        }
    }
    let ranges: Vec<f64> = match get(th, "temperature-ranges") {
        Some(Yaml::Array(a)) => a.iter().filter_map(as_number).collect(),
        _ => return Err(perr(format!("species `{sname}`: no `temperature-ranges`"))),
    };
    let data: Vec<Vec<f64>> = match get(th, "data") {
        Some(Yaml::Array(rows)) => rows
            .iter()
            .map(|r| match r {
                Yaml::Array(c) => c.iter().map(as_number).collect::<Option<Vec<f64>>>(),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| perr(format!("species `{sname}`: bad NASA7 `data`")))?,
        _ => return Err(perr(format!("species `{sname}`: no NASA7 `data`"))),
    };
    let row = |i: usize| -> Result<[f64; 7]> {
        data[i]
            .as_slice()
            .try_into()
            .map_err(|_| perr(format!("species `{sname}`: NASA7 rows need 7 coefficients")))
    };
    match (ranges.len(), data.len()) {
        (2, 1) => Ok(Nasa7 {
            t_mid: ranges[1],
            low: row(0)?,
            high: row(0)?,
        }),
        (3, 2) => Ok(Nasa7 {
            t_mid: ranges[1],
            low: row(0)?,
            high: row(1)?,
        }),
        _ => Err(Error::UnsupportedThermo {
            species: sname.to_string(),
            feature: format!(
                "NASA7 with {} temperature ranges and {} data rows",
                ranges.len().saturating_sub(1),
                data.len()
            ),
        }),
    }
}

/// A side of an equation: species with coefficients, and the third body written on it.
#[derive(Default)]
struct Side {
    species: Vec<(String, u32)>,
    /// `+ M` appears.
    m: bool,
    /// `(+M)` or `(+AR)` appears: the collider.
    falloff: Option<String>,
}

fn unsupported(eq: &str, feature: impl Into<String>) -> Error {
    Error::Unsupported {
        reaction: eq.to_string(),
        feature: feature.into(),
    }
}

fn parse_side(text: &str, eq: &str) -> Result<Side> {
    let normalised = text.replace("(+ ", "(+");
    let mut side = Side::default();
    let mut coeff: Option<f64> = None;
    let mut expect_term = true;
    for tok in normalised.split_whitespace() {
        if tok == "+" {
            if expect_term {
                return Err(perr(format!("reaction `{eq}`: misplaced `+`")));
            }
            expect_term = true;
            continue;
        }
        if tok.starts_with("(+") && tok.ends_with(')') {
            side.falloff = Some(tok[2..tok.len() - 1].trim().to_string());
            expect_term = false;
            continue;
        }
        if let Ok(c) = tok.parse::<f64>() {
            if coeff.is_some() || !expect_term {
                return Err(perr(format!("reaction `{eq}`: misplaced number `{tok}`")));
            }
            coeff = Some(c);
            continue;
        }
        if !expect_term {
            return Err(perr(format!("reaction `{eq}`: missing `+` before `{tok}`")));
        }
        let c = coeff.take().unwrap_or(1.0);
        if tok == "M" {
            if c != 1.0 {
                return Err(perr(format!("reaction `{eq}`: coefficient on M")));
            }
            side.m = true;
        } else {
            if !(c > 0.0 && c.fract() == 0.0 && c <= 16.0) {
                return Err(unsupported(
                    eq,
                    format!("non-integer stoichiometric coefficient {c}"),
                ));
            }
            let c = c as u32;
            match side.species.iter_mut().find(|(s, _)| s == tok) {
                Some(entry) => entry.1 += c,
                None => side.species.push((tok.to_string(), c)),
            }
        }
        expect_term = false;
    }
    if expect_term || coeff.is_some() {
        return Err(perr(format!("reaction `{eq}`: incomplete side `{text}`")));
    }
    Ok(side)
}

const KNOWN_KEYS: &[&str] = &[
    "equation",
    "type",
    "rate-constant",
    "duplicate",
    "negative-A",
    "efficiencies",
    "default-efficiency",
    "low-P-rate-constant",
    "high-P-rate-constant",
    "Troe",
    "note",
    "id",
];

fn parse_reaction(
    r: &Yaml,
    index: &HashMap<&str, usize>,
    units: &UnitSystem,
    declared_only: bool,
    skip_undeclared_third_bodies: bool,
) -> Result<Option<Reaction>> {
    let eq = get(r, "equation")
        .and_then(Yaml::as_str)
        .ok_or_else(|| perr("reaction without `equation`"))?
        .to_string();
    let Yaml::Hash(h) = r else {
        return Err(perr("reaction is not a mapping"));
    };
    for k in h.keys() {
        let k = k.as_str().unwrap_or("");
        if !KNOWN_KEYS.contains(&k) {
            let feature = match k {
                "orders" => "explicit reaction orders (`orders`)".to_string(),
                "nonreactant-orders" => "`nonreactant-orders`".to_string(),
                "negative-orders" => "`negative-orders`".to_string(),
                "SRI" => "SRI falloff".to_string(),
                "Tsang" => "Tsang falloff".to_string(),
                "rate-constants" => "pressure-dependent Arrhenius (PLOG) rates".to_string(),
                "data" | "temperature-range" | "pressure-range" => "Chebyshev rates".to_string(),
                "coverage-dependencies" | "sticking-coefficient" => "surface kinetics".to_string(),
                other => format!("key `{other}`"),
            };
            return Err(unsupported(&eq, feature));
        }
    }
    let kind_name = get(r, "type")
        .and_then(Yaml::as_str)
        .unwrap_or("elementary");
    match kind_name {
        "elementary" | "three-body" | "falloff" => {}
        "pressure-dependent-Arrhenius" => {
            return Err(unsupported(
                &eq,
                "pressure-dependent Arrhenius (PLOG) rates",
            ))
        }
        other => return Err(unsupported(&eq, format!("reaction type `{other}`"))),
    }
    let (lhs, rhs, reversible) = if let Some((l, r)) = eq.split_once("<=>") {
        (l, r, true)
    } else if let Some((l, r)) = eq.split_once("=>") {
        (l, r, false)
    } else if let Some((l, r)) = eq.split_once("<=") {
        let _ = (l, r);
        return Err(unsupported(&eq, "reverse-only arrow `<=`"));
    } else if let Some((l, r)) = eq.split_once(" = ") {
        (l, r, true)
    } else {
        return Err(perr(format!("reaction `{eq}`: no `<=>`, `=>` or `=`")));
    };
    let mut left = parse_side(lhs, &eq)?;
    let mut right = parse_side(rhs, &eq)?;
    if left.m != right.m || left.falloff != right.falloff {
        return Err(perr(format!(
            "reaction `{eq}`: the third body must appear on both sides"
        )));
    }
    let lookup = |name: &str| -> Option<usize> { index.get(name).copied() };
    // An explicit collider of a `type: three-body` reaction: the one species on both sides.
    let mut explicit_collider: Option<String> = None;
    if kind_name == "three-body" && !left.m {
        let both: Vec<String> = left
            .species
            .iter()
            .filter(|(s, _)| right.species.iter().any(|(t, _)| t == s))
            .map(|(s, _)| s.clone())
            .collect();
        if both.len() != 1 {
            return Err(perr(format!(
                "reaction `{eq}`: three-body reaction without `M` needs exactly one collider species on both sides"
            )));
        }
        let c = both[0].clone();
        for side in [&mut left, &mut right] {
            let e = side
                .species
                .iter_mut()
                .find(|(s, _)| *s == c)
                .expect("found");
            e.1 -= 1;
            side.species.retain(|(_, n)| *n > 0);
        }
        explicit_collider = Some(c);
    }
    let mut reactants = Vec::new();
    let mut products = Vec::new();
    for (side, out) in [(&left, &mut reactants), (&right, &mut products)] {
        for (s, n) in &side.species {
            match lookup(s) {
                Some(k) => out.push((k, *n)),
                None if declared_only => return Ok(None),
                None => {
                    return Err(Error::UnknownSpecies {
                        species: s.clone(),
                        context: format!("reaction `{eq}`"),
                    })
                }
            }
        }
    }
    if reactants.is_empty() || products.is_empty() {
        return Err(perr(format!("reaction `{eq}`: a side has no species")));
    }
    let order: i32 = reactants.iter().map(|(_, n)| *n as i32).sum();
    let negative_a_allowed = get(r, "negative-A")
        .and_then(Yaml::as_bool)
        .unwrap_or(false);
    let arrhenius = |key: &str, order: i32| -> Result<Arrhenius> {
        let map = get(r, key).ok_or_else(|| perr(format!("reaction `{eq}`: no `{key}`")))?;
        if !matches!(map, Yaml::Hash(_)) {
            return Err(perr(format!("reaction `{eq}`: `{key}` is not a mapping")));
        }
        if let Yaml::Hash(h) = map {
            for k in h.keys() {
                match k.as_str().unwrap_or("") {
                    "A" | "b" | "Ea" => {}
                    other => return Err(unsupported(&eq, format!("key `{other}` in `{key}`"))),
                }
            }
        }
        let a_y = get(map, "A").ok_or_else(|| perr(format!("reaction `{eq}`: no `A`")))?;
        let a = match a_y {
            Yaml::String(s) => {
                let (v, u) = units::split_quantity(s)?;
                if u.is_empty() {
                    v * units.rate_factor(order)
                } else {
                    v * units::explicit_rate_factor(u, order)
                        .map_err(|e| perr(format!("reaction `{eq}`: {e}")))?
                }
            }
            other => {
                as_number(other).ok_or_else(|| perr(format!("reaction `{eq}`: bad `A`")))?
                    * units.rate_factor(order)
            }
        };
        if a < 0.0 && !negative_a_allowed {
            return Err(perr(format!(
                "reaction `{eq}`: negative A without `negative-A: true`"
            )));
        }
        let b = match get(map, "b") {
            None => 0.0,
            Some(y) => as_number(y).ok_or_else(|| perr(format!("reaction `{eq}`: bad `b`")))?,
        };
        let e_over_r = match get(map, "Ea") {
            None => 0.0,
            Some(Yaml::String(s)) => {
                let (v, u) = units::split_quantity(s)?;
                if u.is_empty() {
                    v * units.activation_factor()
                } else {
                    v * units::activation_factor(u)?
                }
            }
            Some(y) => {
                as_number(y).ok_or_else(|| perr(format!("reaction `{eq}`: bad `Ea`")))?
                    * units.activation_factor()
            }
        };
        if !(a.is_finite() && b.is_finite() && e_over_r.is_finite()) {
            return Err(perr(format!("reaction `{eq}`: non-finite rate parameters")));
        }
        Ok(Arrhenius { a, b, e_over_r })
    };
    let efficiencies = |default_if_absent: f64| -> Result<Efficiencies> {
        let default = match get(r, "default-efficiency") {
            None => default_if_absent,
            Some(y) => as_number(y)
                .ok_or_else(|| perr(format!("reaction `{eq}`: bad `default-efficiency`")))?,
        };
        let mut excess = Vec::new();
        if let Some(map) = get(r, "efficiencies") {
            let Yaml::Hash(h) = map else {
                return Err(perr(format!(
                    "reaction `{eq}`: `efficiencies` is not a mapping"
                )));
            };
            for (s, v) in h {
                let s = scalar_text(s).unwrap_or_default();
                let v = as_number(v)
                    .ok_or_else(|| perr(format!("reaction `{eq}`: bad efficiency of `{s}`")))?;
                match lookup(&s) {
                    Some(k) => {
                        if v != default {
                            excess.push((k, v - default));
                        }
                    }
                    None if skip_undeclared_third_bodies => {}
                    None => {
                        return Err(Error::UnknownSpecies {
                            species: s,
                            context: format!("efficiencies of reaction `{eq}`"),
                        })
                    }
                }
            }
        }
        Ok(Efficiencies { default, excess })
    };
    let single_collider = |name: &str| -> Result<Efficiencies> {
        if get(r, "efficiencies").is_some() || get(r, "default-efficiency").is_some() {
            return Err(perr(format!(
                "reaction `{eq}`: efficiencies with an explicit collider `{name}`"
            )));
        }
        let k = lookup(name).ok_or_else(|| Error::UnknownSpecies {
            species: name.to_string(),
            context: format!("reaction `{eq}`"),
        })?;
        Ok(Efficiencies {
            default: 0.0,
            excess: vec![(k, 1.0)],
        })
    };

    let (rate, kind) = match kind_name {
        "falloff" => {
            let collider = left
                .falloff
                .clone()
                .ok_or_else(|| perr(format!("reaction `{eq}`: falloff without `(+M)`")))?;
            let high = arrhenius("high-P-rate-constant", order)?;
            let low = arrhenius("low-P-rate-constant", order + 1)?;
            let effs = if collider == "M" {
                efficiencies(1.0)?
            } else {
                single_collider(&collider)?
            };
            let form = match get(r, "Troe") {
                None => FalloffForm::Lindemann,
                Some(t) => {
                    if let Yaml::Hash(h) = t {
                        for k in h.keys() {
                            match k.as_str().unwrap_or("") {
                                "A" | "T3" | "T1" | "T2" => {}
                                other => {
                                    return Err(perr(format!(
                                        "reaction `{eq}`: unknown Troe parameter `{other}`"
                                    )))
                                }
                            }
                        }
                    }
                    let what = format!("reaction `{eq}` Troe");
                    let a = number(t, "A", &what)?;
                    let t3 = number(t, "T3", &what)?;
                    let t1 = number(t, "T1", &what)?;
                    let t2 = match get(t, "T2") {
                        None => 0.0,
                        Some(y) => as_number(y).ok_or_else(|| perr(format!("{what}: bad T2")))?,
                    };
                    FalloffForm::Troe {
                        a,
                        inv_t3: 1.0 / t3,
                        inv_t1: 1.0 / t1,
                        t2,
                    }
                }
            };
            (
                high,
                RateKind::Falloff {
                    low,
                    efficiencies: effs,
                    form,
                },
            )
        }
        _ => {
            if left.falloff.is_some() {
                return Err(perr(format!(
                    "reaction `{eq}`: `(+M)` in a reaction that is not `type: falloff`"
                )));
            }
            for key in ["low-P-rate-constant", "high-P-rate-constant", "Troe"] {
                if get(r, key).is_some() {
                    return Err(perr(format!(
                        "reaction `{eq}`: `{key}` in a reaction that is not `type: falloff`"
                    )));
                }
            }
            if left.m {
                (
                    arrhenius("rate-constant", order + 1)?,
                    RateKind::ThreeBody(efficiencies(1.0)?),
                )
            } else if let Some(c) = &explicit_collider {
                (
                    arrhenius("rate-constant", order + 1)?,
                    RateKind::ThreeBody(single_collider(c)?),
                )
            } else {
                if get(r, "efficiencies").is_some() || get(r, "default-efficiency").is_some() {
                    return Err(perr(format!(
                        "reaction `{eq}`: efficiencies without a third body"
                    )));
                }
                (arrhenius("rate-constant", order)?, RateKind::Elementary)
            }
        }
    };

    let mut net: Vec<(usize, f64)> = Vec::new();
    for (k, n) in &reactants {
        net.push((*k, -(*n as f64)));
    }
    for (k, n) in &products {
        match net.iter_mut().find(|(j, _)| j == k) {
            Some(e) => e.1 += *n as f64,
            None => net.push((*k, *n as f64)),
        }
    }
    net.retain(|(_, n)| *n != 0.0);
    let delta_nu = products.iter().map(|(_, n)| *n as f64).sum::<f64>()
        - reactants.iter().map(|(_, n)| *n as f64).sum::<f64>();
    let delta_nu_int = delta_nu as i32;
    let too_many = || {
        unsupported(
            &eq,
            format!("more than {MAX_UNITS} stoichiometric units on one side"),
        )
    };
    let reactant_units = Units::from_pairs(&reactants).ok_or_else(too_many)?;
    let product_units = Units::from_pairs(&products).ok_or_else(too_many)?;
    Ok(Some(Reaction {
        equation: eq,
        reactant_units,
        product_units,
        net,
        delta_nu,
        delta_nu_int,
        reversible,
        rate,
        kind,
    }))
}
