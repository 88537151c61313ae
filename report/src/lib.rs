//! hoox's performance reports, as pure Rust: which window a report covers ([`period`]: a UTC
//! day, an ISO week from Monday, a calendar month, and the R2 keys of each), every figure of that
//! window computed from the ledger's rows ([`metrics`]: realised PnL and fees of the positions
//! closed in it, unrealised at its end, return on starting equity, win rate, profit factor,
//! drawdown, Sharpe and Sortino, per-symbol, per-exchange and long/short tables, the signal
//! funnel), live, testnet and paper apart and all in USDT, and the report a person reads
//! ([`html`]: one self-contained page with print CSS and inline SVG charts).
//!
//! The report-worker reads the rows and stores what this crate produces; the Telegram bot's
//! `/daily`, `/weekly`, `/monthly` and `/profit` answer from the same [`metrics::compute`].
//! Nothing here touches the Workers runtime, so every figure is tested natively against
//! hand-computed ledgers.

pub mod html;
pub mod metrics;
pub mod period;

pub use metrics::{compute, Funnel, Ledger, Report, Section, SectionReport};
pub use period::{Kind, Period, PeriodError};
