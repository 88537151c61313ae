//! The parts of `cargo xtask` with no process or network in them, as a library so they are
//! tested natively and shared (the integration harness reads the same configs).

pub mod deploy;
pub mod jsonc;
