//! The order an adapter submits, derived from a signal and the runtime config.

use contracts::amount::{self, AmountError};
use contracts::config::RuntimeConfig;
use contracts::idempotency::client_order_id;
use contracts::job::TradeJob;
use contracts::signal::{Exchange, OrderType};
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "Buy",
            Self::Sell => "Sell",
        }
    }
}

/// One order, exchange-neutral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    pub exchange: Exchange,
    pub client_order_id: String,
    pub symbol: Symbol,
    pub side: Side,
    pub order_type: OrderType,
    /// Base-asset units.
    pub quantity: Decimal,
    /// Limit price, or for market orders the sender's reference price if it gave one.
    pub price: Option<Decimal>,
    /// Closing orders only reduce a position.
    pub reduce_only: bool,
    pub leverage: u8,
    pub take_profit: Option<Decimal>,
    pub stop_loss: Option<Decimal>,
    pub testnet: bool,
}

/// Why an order was refused before any exchange saw it. Terminal: retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreTradeError {
    #[error("symbol {0} is not in trade:allowed_symbols")]
    SymbolNotAllowed(String),
    #[error("order notional {notional} exceeds trade:max_order_notional {max}")]
    NotionalTooLarge { notional: Decimal, max: Decimal },
    #[error("no reference `price`: trade:max_order_notional cannot be checked, so the order is refused (send the alert's close price)")]
    NoReferencePrice,
    /// An amount of the order has no decimal result (a job the gateway's bounds never saw).
    #[error("order amounts out of range: {0}; the order is refused")]
    Arithmetic(#[from] AmountError),
}

impl OrderRequest {
    /// Builds the order for `job`, applying routing, leverage default and pre-trade checks.
    pub fn for_job(job: &TradeJob, cfg: &RuntimeConfig) -> Result<Self, PreTradeError> {
        let s = &job.signal;
        let canonical = s.symbol.canonical();
        if !cfg.allowed_symbols.is_empty() && !cfg.allowed_symbols.contains(&canonical) {
            return Err(PreTradeError::SymbolNotAllowed(canonical));
        }
        let exchange = cfg.routing.get(&canonical).copied().unwrap_or(s.exchange);
        // Every order's size is bounded: without a reference price there is nothing to bound it
        // with, so it is refused rather than sent at an unknown notional.
        let price = s.price.ok_or(PreTradeError::NoReferencePrice)?;
        let notional = amount::mul(s.quantity, price)?;
        if notional > cfg.max_order_notional {
            return Err(PreTradeError::NotionalTooLarge {
                notional,
                max: cfg.max_order_notional,
            });
        }
        Ok(Self {
            exchange,
            client_order_id: client_order_id(&job.idempotency_key),
            symbol: s.symbol.clone(),
            side: if s.action.is_buy() {
                Side::Buy
            } else {
                Side::Sell
            },
            order_type: s.order_type,
            quantity: s.quantity,
            price: s.price,
            reduce_only: s.action.is_close(),
            leverage: s.leverage.unwrap_or(cfg.default_leverage),
            take_profit: s.take_profit,
            stop_loss: s.stop_loss,
            testnet: s.test,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::signal::parse_webhook;

    fn job(json: &str) -> TradeJob {
        TradeJob {
            idempotency_key: "k1".into(),
            request_id: "r1".into(),
            received_at_ms: 0,
            signal: parse_webhook(json.as_bytes()).unwrap().signal,
        }
    }

    #[test]
    fn close_short_buys_reduce_only() {
        let o = OrderRequest::for_job(
            &job(r#"{"exchange":"bybit","action":"CLOSE_SHORT","symbol":"BTCUSDT","quantity":"0.01","price":"60000"}"#),
            &RuntimeConfig::defaults(),
        )
        .unwrap();
        assert_eq!(o.side, Side::Buy);
        assert!(o.reduce_only);
        assert_eq!(o.leverage, 1);
        assert_eq!(o.client_order_id, client_order_id("k1"));
    }

    #[test]
    fn overflowing_notional_is_refused_not_a_panic() {
        // A job the gateway did not bound (encoded before the bounds, or made by hand): its
        // notional does not fit a decimal, which must be a refusal, not a trapped invocation.
        let mut j = job(
            r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"1","price":"1"}"#,
        );
        j.signal.quantity = Decimal::from_scientific("1e20").unwrap();
        j.signal.price = Some(Decimal::from_scientific("1e20").unwrap());
        assert!(OrderRequest::for_job(&j, &RuntimeConfig::defaults()).is_err());
    }

    #[test]
    fn routing_allow_list_and_notional() {
        let mut cfg = RuntimeConfig::defaults();
        cfg.routing.insert("BTCUSDT".into(), Exchange::Binance);
        let j = job(
            r#"{"exchange":"bybit","action":"LONG","symbol":"BTC/USDT","quantity":"0.01","price":"60000"}"#,
        );
        assert_eq!(
            OrderRequest::for_job(&j, &cfg).unwrap().exchange,
            Exchange::Binance
        );
        let big = job(
            r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"1","price":"60000"}"#,
        );
        assert!(matches!(
            OrderRequest::for_job(&big, &cfg),
            Err(PreTradeError::NotionalTooLarge { .. })
        ));
        let unpriced =
            job(r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"1"}"#);
        assert_eq!(
            OrderRequest::for_job(&unpriced, &cfg),
            Err(PreTradeError::NoReferencePrice)
        );
        cfg.allowed_symbols = vec!["ETHUSDT".into()];
        assert_eq!(
            OrderRequest::for_job(&j, &cfg),
            Err(PreTradeError::SymbolNotAllowed("BTCUSDT".into()))
        );
    }
}
