//! Take-profit and stop-loss: what a signal asks for, the checks before the entry, and the
//! protective orders an exchange takes only as separate orders after the entry fills.
//!
//! The three exchanges take them differently, each as its own documentation says:
//!
//! - **Bybit** attaches them to the order (`takeProfit`, `stopLoss` of `POST /v5/order/create`;
//!   `tpslMode` `Partial` creates "tp/sl orders with the qty you actually fill", triggered by
//!   `MarkPrice`), see [`crate::bybit`].
//! - **MEXC** attaches them to the order (`stopLossPrice`, `takeProfitPrice` of the order
//!   submit), see [`crate::mexc`].
//! - **Binance** takes them only as conditional orders of its Algo Service, placed after the
//!   entry fills ([`ProtectiveOrders`], implemented in [`crate::binance`]): the worker places
//!   each under a client id derived from the entry's ([`ProtectiveKind::client_id`]) and looks
//!   it up before it could place it again, the same discipline as entries.
//!
//! No exchange silently loses one: a closing order carries none (Bybit: "When reduceOnly is
//! true, take profit/stop loss cannot be set"; a close leaves no position to protect), and a
//! price on the wrong side of the reference would trigger at once (Binance refuses such a
//! conditional order, -2021 "Order would immediately trigger."), so both are refused before the
//! entry ([`check_against`]); an adapter that cannot send one refuses the order rather than drop
//! it.

use crate::order::{OrderRequest, PreTradeError, PriceSource, ReferencePrice, Side};
use crate::venue::{Context, Credentials, ExchangeError, HttpRequest, HttpResponse, Instrument};
use contracts::event::{ProtectiveKind, ProtectiveOrder};
use rust_decimal::Decimal;

/// The trigger price `order` asks for as its `kind` protective order, if any.
pub fn trigger(order: &OrderRequest, kind: ProtectiveKind) -> Option<Decimal> {
    match kind {
        ProtectiveKind::TakeProfit => order.take_profit,
        ProtectiveKind::StopLoss => order.stop_loss,
    }
}

/// The protective orders `order` asks for, take-profit first.
pub fn requested(order: &OrderRequest) -> Vec<ProtectiveKind> {
    ProtectiveKind::BOTH
        .into_iter()
        .filter(|k| trigger(order, *k).is_some())
        .collect()
}

/// `order` asks for a take-profit or a stop-loss.
pub fn asks_for_protection(order: &OrderRequest) -> bool {
    order.take_profit.is_some() || order.stop_loss.is_some()
}

/// The checks of an order's take-profit and stop-loss before anything is sent: none on a
/// closing order, and each on its own side of `reference` (a buy's take-profit above it and its
/// stop-loss below it; a sell's the other way round), where it cannot trigger the moment it is
/// placed; for a limit order, on its side of the limit price too (where the entry fills).
pub fn check_against(order: &OrderRequest, reference: ReferencePrice) -> Result<(), PreTradeError> {
    if order.reduce_only && asks_for_protection(order) {
        return Err(PreTradeError::ProtectionOnClose);
    }
    sides(order, reference)?;
    match (order.order_type, order.price) {
        (contracts::signal::OrderType::Limit, Some(limit)) => sides(
            order,
            ReferencePrice {
                price: limit,
                source: PriceSource::Limit,
            },
        ),
        _ => Ok(()),
    }
}

/// Each requested price on its side of `reference`.
fn sides(order: &OrderRequest, reference: ReferencePrice) -> Result<(), PreTradeError> {
    for kind in requested(order) {
        let Some(price) = trigger(order, kind) else {
            continue;
        };
        // Above the reference for a buy's take-profit and a sell's stop-loss.
        let above = matches!(
            (order.side, kind),
            (Side::Buy, ProtectiveKind::TakeProfit) | (Side::Sell, ProtectiveKind::StopLoss)
        );
        let wrong = if above {
            price <= reference.price
        } else {
            price >= reference.price
        };
        if wrong {
            return Err(PreTradeError::ProtectionWouldTrigger {
                kind: kind.as_str(),
                price,
                side: order.side,
                should_be: if above { "above" } else { "below" },
                reference,
            });
        }
    }
    Ok(())
}

/// Whether a protective order's exchange status says it ended without ever acting (cancelled,
/// expired, rejected): it protects nothing.
pub fn ended_unused(status: &str) -> bool {
    let s = status.to_ascii_lowercase();
    ["cancel", "expire", "reject"].iter().any(|w| s.contains(w))
}

/// An exchange that takes take-profit and stop-loss only as separate orders placed once the
/// entry has filled (Binance's conditional orders). Each closes part of what the entry opened:
/// an order of the entry's filled quantity on the opposite side, written for the account's
/// position mode as the entry was (`instrument.placement`: reduce-only on a one-way account,
/// naming the entry's position on a hedge-mode one), triggered by the mark price, under the
/// client id [`ProtectiveKind::client_id`] of the entry's.
pub trait ProtectiveOrders: Sync {
    /// The `kind` protective order of `order`'s entry, which filled `filled` (base units):
    /// quantity down to the step, trigger price to the tick, for the position mode
    /// `instrument.placement` says. Refused (Terminal) when either
    /// rounds to nothing or the order asks for no such price.
    fn protective_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        kind: ProtectiveKind,
        filled: Decimal,
        instrument: &Instrument,
    ) -> Result<HttpRequest, ExchangeError>;

    /// The placement's answer. An answer that may hide a placed order (5xx, a timeout, the id
    /// already taken by an open order) is `Unknown`: look it up before anything else.
    fn parse_protective(
        &self,
        order: &OrderRequest,
        kind: ProtectiveKind,
        resp: &HttpResponse,
    ) -> Result<ProtectiveOrder, ExchangeError>;

    /// Looks the `kind` protective order of `order` up by its client id.
    fn protective_query_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        kind: ProtectiveKind,
    ) -> HttpRequest;

    /// `Some` when the exchange has it (whatever its status), `None` when it says there is none.
    fn parse_protective_query(
        &self,
        order: &OrderRequest,
        kind: ProtectiveKind,
        resp: &HttpResponse,
    ) -> Result<Option<ProtectiveOrder>, ExchangeError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::order;
    use contracts::signal::Exchange;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_else(|_| panic!("{s}"))
    }

    #[test]
    fn each_price_must_sit_on_its_side_of_the_reference() {
        let mark = ReferencePrice::mark(d("65000"));
        let mut buy = order(Exchange::Binance, "0.01", None);
        buy.take_profit = Some(d("70000"));
        buy.stop_loss = Some(d("60000"));
        assert_eq!(check_against(&buy, mark), Ok(()));
        assert_eq!(
            requested(&buy),
            [ProtectiveKind::TakeProfit, ProtectiveKind::StopLoss]
        );
        let mut sell = buy.clone();
        sell.side = Side::Sell;
        let e = check_against(&sell, mark).unwrap_err();
        assert_eq!(
            e.to_string(),
            "take-profit 70000 of a Sell must be below the reference mark price 65000, or it triggers the moment it is placed"
        );
        sell.take_profit = Some(d("60000"));
        sell.stop_loss = Some(d("70000"));
        assert_eq!(check_against(&sell, mark), Ok(()));
        // A limit buy fills at its price: the stop-loss must be below that too.
        let mut limit = buy.clone();
        limit.order_type = contracts::signal::OrderType::Limit;
        limit.price = Some(d("59000"));
        let e = check_against(&limit, mark).unwrap_err();
        assert_eq!(
            e.to_string(),
            "stop-loss 60000 of a Buy must be below the reference limit price 59000, or it triggers the moment it is placed"
        );
        limit.price = Some(d("61000"));
        assert_eq!(check_against(&limit, mark), Ok(()));
        // At the reference is on the wrong side too.
        buy.stop_loss = Some(d("65000"));
        assert!(matches!(
            check_against(&buy, mark),
            Err(PreTradeError::ProtectionWouldTrigger {
                kind: "stop-loss",
                ..
            })
        ));
    }

    #[test]
    fn a_close_carries_no_protection() {
        let mark = ReferencePrice::mark(d("65000"));
        let mut close = order(Exchange::Bybit, "0.01", None);
        close.side = Side::Sell;
        close.reduce_only = true;
        assert_eq!(check_against(&close, mark), Ok(()));
        close.stop_loss = Some(d("70000"));
        assert_eq!(
            check_against(&close, mark),
            Err(PreTradeError::ProtectionOnClose)
        );
    }

    #[test]
    fn ended_statuses_protect_nothing() {
        for s in ["CANCELED", "EXPIRED", "REJECTED", "Cancelled"] {
            assert!(ended_unused(s), "{s}");
        }
        for s in ["NEW", "TRIGGERING", "TRIGGERED", "FINISHED"] {
            assert!(!ended_unused(s), "{s}");
        }
    }
}
