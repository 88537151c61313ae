//! The simulated exchanges, enforcing the venue rules exactly-once depends on:
//! - **Client order ids.** Binance takes a reused `newClientOrderId` once the earlier order
//!   with it is no longer open (filled or cancelled) and refuses it (-4116) while it is open;
//!   Bybit refuses any reuse of an `orderLinkId` (110072). So on Binance only hoox's claim
//!   prevents a second order, and on Bybit a resubmit is an "unknown" answer that must be
//!   looked up.
//! - **The receive window.** A submit whose timestamp (when it was sent) is older than the
//!   receive window when it reaches the matching engine is refused (Binance -5028, Bybit
//!   10002), so a submit that arrives late creates no order.
//! - **Visibility.** An accepted order shows in lookups only after a lag (up to
//!   `SimConfig::max_visibility_lag_ms`).
//!
//! Each order also remembers which signal's delivery sent it (a fact only the simulation can
//! know), so the invariants can tell a second order for one signal from two signals' orders.

use super::world::CallerFacts;
use crate::ports::{Failure, FailureClass, Lookup};
use contracts::event::OrderAck;
use contracts::signal::{Exchange, OrderType};
use exchanges::order::OrderRequest;
use rust_decimal::Decimal;

/// An order the matching engine accepted.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub id: String,
    pub exchange: Exchange,
    pub client_order_id: String,
    /// When the matching engine took it.
    pub created_at: i64,
    /// When its submit was sent (its signed timestamp).
    pub sent_at: i64,
    /// From when lookups find it.
    pub visible_at: i64,
    /// A resting limit order; market orders fill at once.
    pub open: bool,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    /// The delivery that sent it.
    pub by: CallerFacts,
}

impl Order {
    fn ack(&self) -> OrderAck {
        OrderAck {
            client_order_id: self.client_order_id.clone(),
            exchange_order_id: self.id.clone(),
            status: if self.open { "NEW" } else { "FILLED" }.into(),
            filled_quantity: if self.open {
                Decimal::ZERO
            } else {
                self.quantity
            },
            average_price: if self.open { None } else { self.price },
        }
    }
}

/// Both venues' books (orders are told apart by their `exchange`).
#[derive(Debug, Default)]
pub(crate) struct SimExchange {
    pub orders: Vec<Order>,
}

/// Binance's rule for a reused client order id (any other venue follows Bybit's).
fn reuse_allowed_once_closed(exchange: Exchange) -> bool {
    exchange == Exchange::Binance
}

fn refusal(class: FailureClass, message: String) -> Failure {
    Failure { class, message }
}

impl SimExchange {
    /// A submit reaches the matching engine at `now`.
    #[allow(clippy::too_many_arguments)]
    pub fn arrive(
        &mut self,
        now: i64,
        recv_window_ms: i64,
        visibility_lag_ms: i64,
        exchange: Exchange,
        order: &OrderRequest,
        sent_at: i64,
        by: CallerFacts,
    ) -> Result<OrderAck, Failure> {
        if now - sent_at > recv_window_ms {
            return Err(refusal(
                FailureClass::Retryable {
                    retry_after_seconds: None,
                },
                match exchange {
                    Exchange::Binance => format!(
                        "-5028 Timestamp for this request is outside of the ME recvWindow ({} ms old)",
                        now - sent_at
                    ),
                    _ => format!(
                        "10002 invalid request, please check your server timestamp ({} ms old)",
                        now - sent_at
                    ),
                },
            ));
        }
        let coid = &order.client_order_id;
        let mut same_id = self
            .orders
            .iter()
            .filter(|o| o.exchange == exchange && &o.client_order_id == coid);
        if reuse_allowed_once_closed(exchange) {
            if same_id.any(|o| o.open) {
                return Err(refusal(
                    FailureClass::Unknown,
                    "-4116 ClientOrderId is duplicated.".into(),
                ));
            }
        } else if same_id.next().is_some() {
            return Err(refusal(
                FailureClass::Unknown,
                "110072 OrderLinkedID is duplicate".into(),
            ));
        }
        let prefix = match exchange {
            Exchange::Binance => "bn",
            Exchange::Bybit => "by",
            Exchange::Mexc => "mx",
            Exchange::Paper => "pp",
        };
        let o = Order {
            id: format!("{prefix}-{}", self.orders.len() + 1),
            exchange,
            client_order_id: coid.clone(),
            created_at: now,
            sent_at,
            visible_at: now + visibility_lag_ms,
            open: order.order_type == OrderType::Limit,
            quantity: order.quantity,
            price: order.price,
            by,
        };
        let ack = o.ack();
        self.orders.push(o);
        Ok(ack)
    }

    /// A lookup by client order id reaches the exchange at `now`: the latest visible order
    /// with that id.
    pub fn lookup(&self, now: i64, exchange: Exchange, client_order_id: &str) -> Lookup {
        match self.orders.iter().rev().find(|o| {
            o.exchange == exchange && o.client_order_id == client_order_id && o.visible_at <= now
        }) {
            Some(o) => Lookup::Found(o.ack()),
            None => Lookup::NotFound,
        }
    }

    /// Indexes of the resting orders.
    pub fn open_orders(&self) -> Vec<usize> {
        (0..self.orders.len())
            .filter(|&i| self.orders[i].open)
            .collect()
    }

    /// A resting order fills.
    pub fn fill(&mut self, index: usize) {
        self.orders[index].open = false;
    }
}
