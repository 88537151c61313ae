//! The risk manager's decisions, pure: rules in; positions, prices, equity and time in; actions
//! out. The agent-worker only gathers the inputs and carries out what comes back.
//!
//! **The model.** [`rules`] holds the typed `risk:*` rules read from CONFIG_KV, each global or
//! per symbol, every threshold a positive percentage with one meaning, bounds checked by
//! [`rules::validate`] at every write. [`evaluate::evaluate`] runs them once over:
//!
//! - the open positions (exchange, network, symbol, side, size, entry and mark price, opening
//!   time, lot step) and each one's [`evaluate::PositionState`] (trailing watermark, ladder
//!   targets taken, stop at breakeven), keyed by the position's identity *including its opening
//!   time*, so a new position on the same pair starts fresh and a closed one's state is dropped;
//! - each network's account facts (start-of-day equity, equity peak, current equity), the recent
//!   exits (which were stop-outs) and the pauses already in force;
//! - the time.
//!
//! It returns [`evaluate::Action`]s — closes (full, or a ladder target's part, never more than is
//! open) with deterministic keys built from the rule, the position's identity and the trigger, so
//! evaluating the same minute twice asks for the same orders and the idempotency store makes
//! each one order; entry pauses (per network, or per pair for a cooldown); flattens — plus
//! [`evaluate::Note`]s worth an alert and every open position's new state.
//!
//! [`plan`] turns the records the agent-worker reads (the trade-worker's fresh account read, the
//! stored states, exits and equity memory) into that input, and its closes into signals.
//!
//! Two separations hold throughout: pausing entries never suppresses an exit (the position rules
//! do not read the pauses at all), and testnet and mainnet are judged apart (each protection on
//! its own network's equity and exits). Nothing is guessed: a missing mark price or equity
//! figure means no decision for what needs it, reported as a note, never a default.

pub mod evaluate;
pub mod pauses;
pub mod plan;
pub mod rules;

pub use evaluate::{evaluate, Action, Evaluation, Input};
pub use rules::{validate, RuleError, RuleSet};
