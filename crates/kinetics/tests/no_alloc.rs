//! `Reactor::advance` allocates nothing: `allocation-counter` (a counting global
//! allocator) sees no allocation during a whole ignition (hundreds of steps,
//! rejections included).

use quicklb_kinetics::{Mechanism, Reactor, ReactorOptions};

#[test]
fn advance_does_not_allocate() {
    let mech = Mechanism::bundled_h2_o2();
    let mut state = vec![1000.0];
    state.extend(mech.mass_fractions("H2:2, O2:1, N2:3.76").unwrap());
    let mut reactor = Reactor::new(&mech, ReactorOptions::default());
    let mut steps = 0;
    let info = allocation_counter::measure(|| {
        steps = reactor.advance(&mut state, 101325.0, 1e-3).unwrap().steps;
    });
    assert!(steps > 100 && state[0] > 2500.0);
    assert_eq!(info.count_total, 0, "{info:?}");
    // The counter does count: building a reactor allocates.
    let info = allocation_counter::measure(|| {
        std::hint::black_box(Reactor::new(&mech, ReactorOptions::default()));
    });
    assert!(info.count_total > 0);
}
