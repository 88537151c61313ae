//! The paper exchange: fills every order at the signal's price, instantly and in memory.
//!
//! It is the default of a fresh install (`trade:mode` = `paper`) and of every local run, so it
//! refuses what a real venue would have no way to price: a market order with no price. Its
//! orders are checked with [`OrderRequest::check_own_price`]: the price it fills at is the
//! reference of the notional cap.

use crate::order::OrderRequest;
use contracts::event::OrderAck;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaperRejection {
    #[error("paper exchange has no market data: a market order needs a reference `price`")]
    NoPrice,
}

/// Fills `order` at its price. The exchange order id is derived from the client order id, so a
/// repeated fill of the same order is recognisably the same order.
pub fn fill(order: &OrderRequest) -> Result<OrderAck, PaperRejection> {
    let price = order.price.ok_or(PaperRejection::NoPrice)?;
    Ok(OrderAck {
        client_order_id: order.client_order_id.clone(),
        exchange_order_id: format!("paper-{}", order.client_order_id),
        status: "Filled".into(),
        filled_quantity: order.quantity,
        average_price: Some(price),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::config::RuntimeConfig;
    use contracts::job::TradeJob;
    use contracts::signal::parse_webhook;

    fn order(json: &str) -> OrderRequest {
        let job = TradeJob {
            idempotency_key: "k".into(),
            request_id: "r".into(),
            received_at_ms: 0,
            signal: parse_webhook(json.as_bytes()).unwrap().signal,
        };
        OrderRequest::for_job(&job, &RuntimeConfig::defaults()).unwrap()
    }

    #[test]
    fn fills_at_signal_price() {
        let ack = fill(&order(r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":"0.001","price":"65000"}"#)).unwrap();
        assert_eq!(ack.status, "Filled");
        assert_eq!(
            ack.average_price.map(|p| p.to_string()),
            Some("65000".into())
        );
        assert_eq!(ack.filled_quantity.to_string(), "0.001");
    }

    #[test]
    fn market_without_price_is_rejected() {
        // The paper path's pre-trade check (`OrderRequest::check_own_price`) already refuses
        // unpriced orders; the paper venue refuses them on its own too, as a venue with no market
        // data must.
        let mut o = order(
            r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":"0.001","price":"1"}"#,
        );
        o.price = None;
        assert_eq!(fill(&o), Err(PaperRejection::NoPrice));
    }
}
