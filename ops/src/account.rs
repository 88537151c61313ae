//! What the trade-worker's `POST /account/read` answers: a fresh read of every exchange's open
//! positions and USDT equity per network, with hoox's own open books beside them (their opening
//! times name a position's identity). The agent-worker evaluates its rules on it; the read also
//! refreshes the ledger's `positions` like the one-minute cron does.

use crate::pnl::OpenBook;
use crate::reconcile::PositionRow;
use serde::{Deserialize, Serialize};

/// One exchange and network, as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRead {
    pub exchange: String,
    /// `mainnet` or `testnet`.
    pub network: String,
    /// `None` when the positions could not be read (`positions_error` says why).
    pub positions: Option<Vec<PositionRow>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positions_error: Option<String>,
    /// Wallet balance plus unrealised PnL, USDT; `None` when the balance could not be read.
    pub equity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equity_error: Option<String>,
}

/// The whole read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccountSnapshot {
    pub read_at_ms: i64,
    /// Every real exchange with credentials, on each network it was read on.
    pub reads: Vec<AccountRead>,
    /// hoox's open books (every exchange, paper included).
    pub open: Vec<OpenBook>,
}
