//! Loading mechanisms: the bundled one, Cantera's own files, and the errors for
//! what is not supported.

mod common;

use quicklb_kinetics::{ignition, Error, Mechanism, ReactorOptions, BUNDLED_H2_O2_YAML};

#[test]
fn bundled_mechanism_loads() {
    let mech = Mechanism::bundled_h2_o2();
    assert_eq!(mech.num_species(), 10);
    assert_eq!(mech.num_reactions(), 23);
    assert_eq!(mech.species_index("OH"), Some(5));
    assert_eq!(mech.species_names()[0], "H2");
    let from_file = Mechanism::from_file(common::bundled_path()).unwrap();
    assert_eq!(from_file.num_reactions(), 23);
    // H2O: 2 * 1.008 + 15.999.
    let w = mech.molecular_weights()[mech.species_index("H2O").unwrap()];
    assert!((w - 18.015).abs() < 1e-12, "{w}");
}

#[test]
fn mixture_strings() {
    let mech = Mechanism::bundled_h2_o2();
    let y = mech.mass_fractions("H2:2, O2:1").unwrap();
    let (h2, o2) = (
        mech.species_index("H2").unwrap(),
        mech.species_index("O2").unwrap(),
    );
    let w = mech.molecular_weights();
    let expect_h2 = 2.0 * w[h2] / (2.0 * w[h2] + w[o2]);
    assert!((y[h2] - expect_h2).abs() < 1e-15);
    assert!((y[o2] - (1.0 - expect_h2)).abs() < 1e-15);
    match mech.mass_fractions("H2:2, CH4:1") {
        Err(Error::UnknownSpecies { species, .. }) => assert_eq!(species, "CH4"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        mech.mass_fractions("H2:-1, O2:1"),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        mech.mass_fractions("H2 2"),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        mech.mass_fractions(""),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        mech.mass_fractions("H2:1, H2:1"),
        Err(Error::InvalidInput(_))
    ));
}

/// The bundled text with its reactions replaced by `reactions`.
fn with_reactions(reactions: &str) -> String {
    let head = BUNDLED_H2_O2_YAML.split("\nreactions:\n").next().unwrap();
    format!("{head}\nreactions:\n{reactions}")
}

fn unsupported(reactions: &str) -> (String, String) {
    match Mechanism::from_yaml_str(&with_reactions(reactions), None) {
        Err(Error::Unsupported { reaction, feature }) => (reaction, feature),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn unsupported_features_name_the_reaction_and_the_feature() {
    let (r, f) = unsupported(
        "- equation: H + O2 <=> O + OH\n  type: pressure-dependent-Arrhenius\n  rate-constants:\n  - {P: 1 atm, A: 1.0e+13, b: 0, Ea: 0}\n",
    );
    assert_eq!(r, "H + O2 <=> O + OH");
    assert!(f.contains("PLOG"), "{f}");
    let (r, f) = unsupported(
        "- equation: H + O2 <=> O + OH\n  type: Chebyshev\n  temperature-range: [290, 3000]\n  pressure-range: [0.01 atm, 100 atm]\n  data: [[1.0]]\n",
    );
    assert_eq!(r, "H + O2 <=> O + OH");
    assert!(f.contains("Chebyshev"), "{f}");
    let (_, f) = unsupported(
        "- equation: H + O2 (+M) <=> HO2 (+M)\n  type: chemically-activated\n  low-P-rate-constant: {A: 1, b: 0, Ea: 0}\n  high-P-rate-constant: {A: 1, b: 0, Ea: 0}\n",
    );
    assert!(f.contains("chemically-activated"), "{f}");
    let (_, f) = unsupported(
        "- equation: H2 + O2 => 2 OH\n  rate-constant: {A: 1.0e+13, b: 0, Ea: 0}\n  orders: {H2: 0.5}\n",
    );
    assert!(f.contains("orders"), "{f}");
    let (_, f) = unsupported(
        "- equation: H + O2 (+M) <=> HO2 (+M)\n  type: falloff\n  low-P-rate-constant: {A: 1, b: 0, Ea: 0}\n  high-P-rate-constant: {A: 1, b: 0, Ea: 0}\n  SRI: {A: 1, B: 2, C: 3}\n",
    );
    assert!(f.contains("SRI"), "{f}");
    let (_, f) =
        unsupported("- equation: 0.5 H2 + 0.5 O2 => OH\n  rate-constant: {A: 1, b: 0, Ea: 0}\n");
    assert!(f.contains("non-integer"), "{f}");
    let (_, f) = unsupported(
        "- equation: H + O2 <=> O + OH\n  rate-constant: {A: 1, b: 0, Ea: 0}\n  frobnicate: 3\n",
    );
    assert!(f.contains("frobnicate"), "{f}");
}

#[test]
fn other_errors() {
    assert!(matches!(
        Mechanism::from_yaml_str("just: [a, list", None),
        Err(Error::Parse(_))
    ));
    assert!(matches!(
        Mechanism::from_yaml_str("foo: 1\n", None),
        Err(Error::Parse(_))
    ));
    assert!(matches!(
        Mechanism::from_file("/nonexistent/mech.yaml"),
        Err(Error::Io { .. })
    ));
    let text =
        with_reactions("- equation: H + XX <=> O + OH\n  rate-constant: {A: 1, b: 0, Ea: 0}\n");
    match Mechanism::from_yaml_str(&text, None) {
        Err(Error::UnknownSpecies { species, context }) => {
            assert_eq!(species, "XX");
            assert!(context.contains("H + XX"), "{context}");
        }
        other => panic!("{other:?}"),
    }
    // Negative A needs `negative-A: true`.
    let text =
        with_reactions("- equation: H + O2 <=> O + OH\n  rate-constant: {A: -1, b: 0, Ea: 0}\n");
    assert!(matches!(
        Mechanism::from_yaml_str(&text, None),
        Err(Error::Parse(_))
    ));
    // A phase that is not an ideal gas.
    let text = BUNDLED_H2_O2_YAML.replace("thermo: ideal-gas", "thermo: Redlich-Kwong");
    assert!(matches!(
        Mechanism::from_yaml_str(&text, None),
        Err(Error::UnsupportedPhase { .. })
    ));
    // Units given explicitly agree with the default units.
    let a = with_reactions("- equation: H + O2 <=> O + OH\n  rate-constant: {A: 3.547e+15, b: -0.406, Ea: 1.6599e+04}\n");
    let b = with_reactions("- equation: H + O2 <=> O + OH\n  rate-constant: {A: 3.547e+12 m^3/kmol/s, b: -0.406, Ea: 16.599 kcal/mol}\n");
    let (ma, mb) = (
        Mechanism::from_yaml_str(&a, None).unwrap(),
        Mechanism::from_yaml_str(&b, None).unwrap(),
    );
    let y = ma.mass_fractions("H2:2, O2:1, H:0.01").unwrap();
    let ia = ignition(&ma, &y, 1500.0, 101325.0, ReactorOptions::default(), 1e-5).unwrap();
    let ib = ignition(&mb, &y, 1500.0, 101325.0, ReactorOptions::default(), 1e-5).unwrap();
    let rel = (ia.final_temperature - ib.final_temperature).abs() / ia.final_temperature;
    assert!(
        rel < 1e-10,
        "{} vs {}",
        ia.final_temperature,
        ib.final_temperature
    );
    assert!(
        ia.final_temperature < 1499.0,
        "endothermic: {}",
        ia.final_temperature
    );
}

#[test]
fn cantera_h2o2_and_gri30_load() {
    let dir = match common::cantera_data_dir() {
        Ok(d) => d,
        Err(why) => {
            eprintln!("skipping: Cantera's data files are not available ({why})");
            return;
        }
    };
    let h2o2 = Mechanism::from_file(dir.join("h2o2.yaml")).unwrap();
    assert_eq!((h2o2.num_species(), h2o2.num_reactions()), (10, 29));
    assert_eq!(h2o2.phase_name(), "ohmech");
    let gri = Mechanism::from_file(dir.join("gri30.yaml")).unwrap();
    assert_eq!((gri.num_species(), gri.num_reactions()), (53, 325));
    let y = gri.mass_fractions("CH4:1, O2:2, N2:7.52").unwrap();
    let ign = ignition(&gri, &y, 1200.0, 101325.0, ReactorOptions::default(), 0.1).unwrap();
    eprintln!(
        "gri30 CH4/air 1200 K: delay {:e} s, T_end {} K, {} steps",
        ign.delay, ign.final_temperature, ign.steps
    );
    // Cantera 3.2 gives 45.5 ms (tests/cantera.rs compares precisely).
    assert!(ign.delay > 0.03 && ign.delay < 0.06, "{}", ign.delay);
    assert!(ign.final_temperature > 2500.0, "{}", ign.final_temperature);
}
