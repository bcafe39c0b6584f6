//! Cantera's unit system: the `units` section of a file, and quantities written
//! as strings with units (`"1.0e13 cm^3/mol/s"`, `"25 kcal/mol"`).
//!
//! Internally everything is SI with kmol, as in Cantera: m, s, kmol, J, K.
//! Activation energies are stored as `Ea / R` in kelvin.

use crate::{Error, Result};

/// Universal gas constant, J/(kmol K) (Cantera's `GasConstant`, CODATA 2018).
pub const GAS_CONSTANT: f64 = 8314.46261815324;
/// One standard atmosphere, Pa: the reference pressure of NASA7 thermo.
pub const ONE_ATM: f64 = 101325.0;
/// Boltzmann constant over the elementary charge: 1 eV / k_B in kelvin.
const EV_OVER_KB: f64 = 11604.518121550082;

/// Default units of a file, as SI factors.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UnitSystem {
    length: f64,
    quantity: f64,
    time: f64,
    /// Converts an activation energy number to `Ea / R` in K.
    activation_energy_over_r: f64,
}

impl Default for UnitSystem {
    fn default() -> Self {
        UnitSystem {
            length: 1.0,
            quantity: 1.0,
            time: 1.0,
            activation_energy_over_r: 1.0 / GAS_CONSTANT,
        }
    }
}

/// SI factor of one unit symbol and its kind.
fn unit_factor(symbol: &str) -> Option<(f64, Dim)> {
    use Dim::*;
    Some(match symbol {
        "m" => (1.0, Length),
        "cm" => (1e-2, Length),
        "mm" => (1e-3, Length),
        "um" | "μm" => (1e-6, Length),
        "nm" => (1e-9, Length),
        "dm" => (1e-1, Length),
        "km" => (1e3, Length),
        "kmol" => (1.0, Quantity),
        "mol" => (1e-3, Quantity),
        "gmol" => (1e-3, Quantity),
        "molec" => (1.0 / 6.02214076e26, Quantity),
        "s" => (1.0, Time),
        "ms" => (1e-3, Time),
        "us" | "μs" => (1e-6, Time),
        "ns" => (1e-9, Time),
        "min" => (60.0, Time),
        "h" | "hr" => (3600.0, Time),
        "J" => (1.0, Energy),
        "kJ" => (1e3, Energy),
        "MJ" => (1e6, Energy),
        "cal" => (4.184, Energy),
        "kcal" => (4184.0, Energy),
        "erg" => (1e-7, Energy),
        "K" => (1.0, Temperature),
        "eV" => (1.0, ElectronVolt),
        _ => return None,
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dim {
    Length,
    Quantity,
    Time,
    Energy,
    Temperature,
    ElectronVolt,
}

/// A parsed unit expression: SI factor and the exponents of each dimension.
#[derive(Clone, Copy, Debug, Default)]
struct Units {
    factor: f64,
    length: i32,
    quantity: i32,
    time: i32,
    energy: i32,
    temperature: i32,
    electron_volt: i32,
}

/// Parses `cm^3/mol/s`, `kcal/mol`, `m^6/kmol^2/s`, `1/s`, `J/mol*K`-style expressions:
/// factors before the first `/` are in the numerator, every factor after it in the
/// denominator (`cm^3/mol/s`); `*` and spaces separate factors.
fn parse_units(text: &str) -> Result<Units> {
    let mut u = Units {
        factor: 1.0,
        ..Units::default()
    };
    let mut sign = 1;
    let mut token = String::new();
    let flush = |token: &mut String, sign: i32, u: &mut Units| -> Result<()> {
        let t = token.trim();
        if t.is_empty() || t == "1" {
            token.clear();
            return Ok(());
        }
        let (name, exp) = match t.split_once('^') {
            Some((n, e)) => (
                n,
                e.parse::<i32>()
                    .map_err(|_| Error::Parse(format!("bad exponent in unit `{t}`")))?,
            ),
            None => (t, 1),
        };
        let (f, dim) =
            unit_factor(name).ok_or_else(|| Error::Parse(format!("unknown unit `{name}`")))?;
        let e = sign * exp;
        u.factor *= f.powi(e);
        match dim {
            Dim::Length => u.length += e,
            Dim::Quantity => u.quantity += e,
            Dim::Time => u.time += e,
            Dim::Energy => u.energy += e,
            Dim::Temperature => u.temperature += e,
            Dim::ElectronVolt => u.electron_volt += e,
        }
        token.clear();
        Ok(())
    };
    for c in text.chars() {
        match c {
            '/' => {
                flush(&mut token, sign, &mut u)?;
                sign = -1;
            }
            '*' | ' ' => {
                flush(&mut token, sign, &mut u)?;
            }
            _ => token.push(c),
        }
    }
    flush(&mut token, sign, &mut u)?;
    Ok(u)
}

/// Splits `"1.5e13 cm^3/mol/s"` into its number and its unit text.
pub(crate) fn split_quantity(text: &str) -> Result<(f64, &str)> {
    let text = text.trim();
    let (num, rest) = match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim()),
        None => (text, ""),
    };
    let value = num
        .parse::<f64>()
        .map_err(|_| Error::Parse(format!("`{text}` is not a number with units")))?;
    Ok((value, rest))
}

impl UnitSystem {
    /// Reads a file's `units` mapping (`{length: cm, quantity: mol, activation-energy: cal/mol}`).
    pub(crate) fn from_entries<'a>(
        entries: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<UnitSystem> {
        let mut sys = UnitSystem::default();
        let mut energy = 1.0;
        let mut activation: Option<&str> = None;
        for (key, value) in entries {
            let u = parse_units(value)?;
            match key {
                "length" => sys.length = u.factor,
                "quantity" => sys.quantity = u.factor,
                "time" => sys.time = u.factor,
                "energy" => energy = u.factor,
                "activation-energy" => activation = Some(value),
                // Units that do not enter gas kinetics with NASA7 thermo.
                "temperature" | "pressure" | "mass" | "current" | "density" | "molar-volume" => {
                    if key == "temperature" && u.factor != 1.0 {
                        return Err(Error::Parse("temperature units other than K".into()));
                    }
                }
                other => return Err(Error::Parse(format!("unknown key `{other}` in `units`"))),
            }
        }
        sys.activation_energy_over_r = match activation {
            Some(text) => activation_factor(text)?,
            None => energy / sys.quantity / GAS_CONSTANT,
        };
        Ok(sys)
    }

    /// SI factor of a rate coefficient of a reaction of total `order` (concentration
    /// units `quantity / length^3`, to the power `1 - order`, per time).
    pub(crate) fn rate_factor(&self, order: i32) -> f64 {
        let conc = self.quantity / (self.length * self.length * self.length);
        conc.powi(1 - order) / self.time
    }

    /// Factor from an activation-energy number in the file's units to `Ea / R` in K.
    pub(crate) fn activation_factor(&self) -> f64 {
        self.activation_energy_over_r
    }
}

/// Factor from an activation energy in `text` units (`cal/mol`, `K`, `eV`, ...) to `Ea/R` in K.
pub(crate) fn activation_factor(text: &str) -> Result<f64> {
    let u = parse_units(text)?;
    if u.temperature == 1 && u.energy == 0 && u.quantity == 0 && u.electron_volt == 0 {
        Ok(u.factor)
    } else if u.electron_volt == 1 && u.energy == 0 && u.quantity == 0 {
        Ok(EV_OVER_KB)
    } else if u.energy == 1 && u.quantity == -1 && u.length == 0 && u.time == 0 {
        Ok(u.factor / GAS_CONSTANT)
    } else {
        Err(Error::Parse(format!(
            "`{text}` is not an activation-energy unit (energy/quantity, K or eV)"
        )))
    }
}

/// SI factor of a rate coefficient written with explicit units; checks its
/// dimension against the reaction order.
pub(crate) fn explicit_rate_factor(text: &str, order: i32) -> Result<f64> {
    let u = parse_units(text)?;
    let ok = u.length == 3 * (order - 1)
        && u.quantity == 1 - order
        && u.time == -1
        && u.energy == 0
        && u.temperature == 0;
    if !ok {
        return Err(Error::Parse(format!(
            "units `{text}` do not fit a rate coefficient of order {order}"
        )));
    }
    Ok(u.factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_units() {
        let f = explicit_rate_factor("cm^3/mol/s", 2).unwrap();
        assert!((f - 1e-3).abs() < 1e-18);
        let f = explicit_rate_factor("cm^6/mol^2/s", 3).unwrap();
        assert!((f - 1e-6).abs() < 1e-20);
        assert!(explicit_rate_factor("cm^3/mol/s", 1).is_err());
        assert_eq!(explicit_rate_factor("1/s", 1).unwrap(), 1.0);
        let sys = UnitSystem::from_entries(
            [
                ("length", "cm"),
                ("quantity", "mol"),
                ("activation-energy", "cal/mol"),
            ]
            .into_iter(),
        )
        .unwrap();
        assert!((sys.rate_factor(2) - 1e-3).abs() < 1e-18);
        assert!((sys.activation_factor() - 4184.0 / GAS_CONSTANT).abs() < 1e-15);
    }

    #[test]
    fn activation_units() {
        assert!((activation_factor("kcal/mol").unwrap() - 4.184e6 / GAS_CONSTANT).abs() < 1e-9);
        assert!((activation_factor("kJ/mol").unwrap() - 1e6 / GAS_CONSTANT).abs() < 1e-9);
        assert_eq!(activation_factor("K").unwrap(), 1.0);
        assert!(activation_factor("cm").is_err());
        let (v, u) = split_quantity("2.5e4 cal/mol").unwrap();
        assert_eq!((v, u), (2.5e4, "cal/mol"));
    }
}
