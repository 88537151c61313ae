//! The dashboard's pure parts, tested natively: the password hash (`password`), sessions and
//! their cookie (`session`), the origin check, security headers and login limiter (`guard`),
//! the config keys' explanations (`keys`) and every page (`views`). The `dashboard` worker is
//! a thin adapter: it reads the bindings, calls the other workers and hands the answers here.

pub mod guard;
pub mod keys;
pub mod password;
pub mod session;
pub mod views;
