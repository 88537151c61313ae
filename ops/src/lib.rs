//! Operations on hoox's records, as pure Rust: what operators, the Telegram bot and the CLI may
//! ask of the ledger and the dead letters, and what they get back.
//!
//! Callers never send SQL. They send typed filters ([`query`], [`ledger`], [`dead_letters`],
//! [`audit`]); this crate turns them into parameterised statements whose text holds only
//! constant column names, and defines the JSON the `d1-worker`, the `dlq` worker and the `hoox`
//! CLI exchange. The ledger's writes from trade events, never letting a staler order state
//! overwrite a more advanced one, are in [`ledger`]; what hoox's fills imply (open books,
//! realised PnL per closed position) in [`pnl`]; the exchange's own positions reconciled with
//! them, and the daily equity snapshots, in [`reconcile`], and the fresh read the agent-worker evaluates on in [`account`]. Positions derived from filled orders
//! the old way remain in [`positions`]; the fan-out's R2
//! log layout lives in [`logs`], and how the `dlq` worker records a dead letter (its status and
//! in-doubt fact from the store's view of the key, the sweep's rows) in [`recording`]; UTC times
//! as text in [`utc`]; the agent-worker's records (rule state per position, exits, equity peaks,
//! runs) in [`risk`]. Nothing here touches the Workers runtime, so it is tested natively.

pub mod account;
pub mod audit;
pub mod dead_letters;
pub mod ledger;
pub mod logs;
pub mod pnl;
pub mod positions;
pub mod query;
pub mod reconcile;
pub mod recording;
pub mod report;
pub mod risk;
#[cfg(test)]
mod sqlite;
pub mod trail;
pub mod utc;

/// Header carrying who performs an operator action (`cli:alice`, `telegram:12345`); recorded in
/// the audit log. Authentication is the internal key; this only names the person or tool.
pub const ACTOR_HEADER: &str = "X-Hoox-Actor";
