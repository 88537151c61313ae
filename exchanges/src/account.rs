//! The account half of a venue, pure like the rest: what the exchange says it holds (open
//! positions, the USDT wallet) and what an order's fills cost (fees), as requests to build and
//! answers to read. The `consumers` worker sends them; `ops` reconciles what they say with what
//! hoox's own fills imply.
//!
//! [`Account`] is a supertrait of [`crate::venue::Venue`], so every venue must implement it (no
//! method has a default) and `&dyn Venue` reaches it. Each venue implements it in its own
//! `account` submodule (`bybit/account.rs`, `binance/account.rs`, `mexc/account.rs`), beside
//! its order protocol rather than inside it, with the exchange's documentation cited there.
//!
//! Quantities are in the exchange's order unit (contracts on MEXC futures):
//! `Instrument::base_quantity` turns them into base-asset units, as for order answers.

use crate::order::OrderRequest;
use crate::venue::{Context, Credentials, ExchangeError, HttpRequest, HttpResponse};
use contracts::event::{Fee, OrderAck};
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Which way a position faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionSide {
    Long,
    Short,
}

impl PositionSide {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Long => "long",
            Self::Short => "short",
        }
    }
}

/// How a position's margin is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarginMode {
    Cross,
    Isolated,
}

impl MarginMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cross => "cross",
            Self::Isolated => "isolated",
        }
    }
}

/// One open position as the exchange reports it. Fields the exchange leaves empty (or does not
/// have) are `None`, never made up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangePosition {
    /// Canonical (`BTCUSDT`).
    pub symbol: Symbol,
    /// The exchange's own symbol (`BTC_USDT` on MEXC), for its instrument rules.
    pub exchange_symbol: String,
    pub side: PositionSide,
    /// Strictly positive, in the exchange's order unit (contracts on MEXC).
    pub size: Decimal,
    pub entry_price: Option<Decimal>,
    pub mark_price: Option<Decimal>,
    /// In the settle asset (USDT).
    pub unrealised_pnl: Option<Decimal>,
    pub leverage: Option<Decimal>,
    pub margin_mode: Option<MarginMode>,
    /// The exchange reported it as one leg of a hedge-mode account (Bybit `positionIdx` 1 or
    /// 2, Binance `positionSide` `LONG`/`SHORT`, every MEXC position): its long and short are
    /// not netted when hoox's fills are compared with it, whatever [`Account::nets_sides`] says
    /// of the venue's one-way default.
    pub hedge_leg: bool,
}

/// Every open position of the account's USDT linear contracts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Positions {
    pub positions: Vec<ExchangePosition>,
    /// `false` when the exchange said there is more than this answer holds (a next page): the
    /// list is then not the whole truth, and a position missing from it proves nothing.
    pub complete: bool,
    /// The exchange's symbols of positions hoox cannot name (no canonical form, e.g. a dated
    /// future): reported, so they are not silently dropped.
    pub unrecognised: Vec<String>,
}

/// The account's USDT: what an equity snapshot records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// `USDT`.
    pub asset: String,
    /// Deposits and realised results, before unrealised PnL.
    pub wallet_balance: Decimal,
    /// Unrealised PnL of open positions, where the exchange reports it.
    pub unrealised_pnl: Option<Decimal>,
    /// Wallet balance plus unrealised PnL, as the exchange reports or defines it.
    pub equity: Decimal,
}

impl Balance {
    /// An account that lists no USDT (exchanges leave zero balances out).
    pub fn no_usdt() -> Self {
        Self {
            asset: "USDT".into(),
            wallet_balance: Decimal::ZERO,
            unrealised_pnl: Some(Decimal::ZERO),
            equity: Decimal::ZERO,
        }
    }

    /// A USDT wallet; its equity is the exchange's own figure where it reports one, else the
    /// wallet plus the unrealised PnL.
    pub fn usdt(
        wallet_balance: Decimal,
        unrealised_pnl: Option<Decimal>,
        equity: Option<Decimal>,
    ) -> Result<Self, contracts::amount::AmountError> {
        let equity = match equity {
            Some(e) => e,
            None => {
                contracts::amount::add(wallet_balance, unrealised_pnl.unwrap_or(Decimal::ZERO))?
            }
        };
        Ok(Self {
            asset: "USDT".into(),
            wallet_balance,
            unrealised_pnl,
            equity,
        })
    }
}

/// The account half of a venue (see the module doc).
pub trait Account {
    /// Every open position of USDT linear contracts (signed, read only).
    fn positions_request(&self, ctx: &Context, creds: &Credentials) -> HttpRequest;
    /// Positions of size 0 (rows some exchanges keep for symbols with open orders) are left
    /// out; an unreadable answer or refusal is classified as for any read.
    fn parse_positions(&self, resp: &HttpResponse) -> Result<Positions, ExchangeError>;

    /// The USDT wallet (signed, read only).
    fn balance_request(&self, ctx: &Context, creds: &Credentials) -> HttpRequest;
    /// An account listed without USDT holds none (exchanges omit empty assets): a zero balance.
    /// An answer without the account at all is a Retryable error, never a zero.
    fn parse_balance(&self, resp: &HttpResponse) -> Result<Balance, ExchangeError>;

    /// The fill records of one order, for its fees (`ack` is the order as last seen: its
    /// exchange order id where the exchange needs it).
    fn fees_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        ack: &OrderAck,
    ) -> HttpRequest;
    /// The order's fees so far; `Ok(None)` when the records do not tell the whole of them (a
    /// next page, fills in several assets), so the fee stays unknown rather than understated.
    fn parse_fees(
        &self,
        order: &OrderRequest,
        ack: &OrderAck,
        resp: &HttpResponse,
    ) -> Result<Option<Fee>, ExchangeError>;

    /// Whether the account keeps one net position per symbol as hoox trades this exchange
    /// (one-way mode: hoox sends no position index or side), so long and short fills of one
    /// symbol net out; otherwise long and short are separate positions (MEXC).
    fn nets_sides(&self) -> bool;
}

/// The strictly positive size of a signed amount, and its side; `None` for zero.
pub(crate) fn signed_size(amount: Decimal) -> Option<(PositionSide, Decimal)> {
    if amount > Decimal::ZERO {
        Some((PositionSide::Long, amount))
    } else if amount < Decimal::ZERO {
        Some((PositionSide::Short, amount.abs()))
    } else {
        None
    }
}

/// Sums fees, checked; `None` when a sum overflows (absurd on its face: unknown, not a panic).
pub(crate) fn sum_fees(amounts: impl IntoIterator<Item = Decimal>) -> Option<Decimal> {
    amounts
        .into_iter()
        .try_fold(Decimal::ZERO, |acc, a| contracts::amount::add(acc, a).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_sizes_face_their_sign() {
        assert_eq!(
            signed_size(Decimal::new(-15, 1)),
            Some((PositionSide::Short, Decimal::new(15, 1)))
        );
        assert_eq!(
            signed_size(Decimal::ONE),
            Some((PositionSide::Long, Decimal::ONE))
        );
        assert_eq!(signed_size(Decimal::ZERO), None);
        assert_eq!(sum_fees([Decimal::MAX, Decimal::MAX]), None);
        assert_eq!(
            sum_fees([Decimal::new(1, 2), Decimal::new(2, 2)]),
            Some(Decimal::new(3, 2))
        );
    }
}
