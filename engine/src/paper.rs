//! The paper exchange as one more [`ExchangePort`], so the engine has no paper branch: every job
//! goes through the same claim, checks, grant, submit and complete, whichever exchange it is
//! routed to. Paper has no market data and keeps no orders: its instrument rounds nothing, its
//! reference price is the signal's own, a lookup never finds anything, a submit is
//! [`exchanges::paper::fill`], and a take-profit or stop-loss is recorded as attached to the fill
//! (nothing to place).
//!
//! [`Routed`] is the port an [`crate::ports::Exchanges`] implementation hands out when it also
//! serves paper: its own port for a real exchange, this one for paper.

use crate::ports::{ExchangePort, Failure, FailureClass, Lookup, Prepared};
use contracts::event::{Fee, OrderAck, Protection};
use contracts::signal::Exchange;
use exchanges::order::OrderRequest;
use exchanges::paper::{self, PaperRejection};
use exchanges::venue::Instrument;
use rust_decimal::Decimal;

/// The built-in simulated exchange.
#[derive(Debug, Clone, Copy, Default)]
pub struct PaperExchange;

/// The finest step a decimal has: rounding to it changes no quantity or price.
const NO_ROUNDING: Decimal = Decimal::from_parts(1, 0, 0, false, 28);

fn refused(e: PaperRejection) -> Failure {
    Failure {
        class: FailureClass::Terminal,
        message: e.to_string(),
    }
}

impl ExchangePort for PaperExchange {
    fn exchange(&self) -> Exchange {
        Exchange::Paper
    }

    async fn prepare(&self, order: &OrderRequest, _deadline_ms: i64) -> Result<Prepared, Failure> {
        Ok(Prepared {
            instrument: Instrument {
                symbol: order.symbol.canonical(),
                qty_step: NO_ROUNDING,
                min_qty: Decimal::ZERO,
                tick_size: NO_ROUNDING,
                contract_size: Decimal::ONE,
                limits: Default::default(),
                placement: Default::default(),
            },
            // No market data: a market order with no price of its own is refused, as the fill
            // would refuse it.
            reference_price: order
                .price
                .map(exchanges::order::ReferencePrice::signal)
                .ok_or_else(|| refused(PaperRejection::NoPrice))?,
        })
    }

    async fn lookup(&self, _order: &OrderRequest, _deadline_ms: i64) -> Result<Lookup, Failure> {
        Ok(Lookup::NotFound)
    }

    async fn submit(
        &self,
        order: &OrderRequest,
        _prepared: &Prepared,
        _deadline_ms: i64,
    ) -> Result<OrderAck, Failure> {
        paper::fill(order).map_err(refused)
    }

    async fn protect(
        &self,
        _order: &OrderRequest,
        _fill: &OrderAck,
        _deadline_ms: i64,
    ) -> Protection {
        Protection::Attached
    }
}

/// A real exchange's port, or paper.
#[derive(Debug, Clone)]
pub enum Routed<L> {
    Live(L),
    Paper(PaperExchange),
}

impl<L: ExchangePort> ExchangePort for Routed<L> {
    fn exchange(&self) -> Exchange {
        match self {
            Self::Live(l) => l.exchange(),
            Self::Paper(p) => p.exchange(),
        }
    }

    fn submit_timeout_ms(&self) -> i64 {
        match self {
            Self::Live(l) => l.submit_timeout_ms(),
            Self::Paper(p) => p.submit_timeout_ms(),
        }
    }

    async fn prepare(&self, order: &OrderRequest, deadline_ms: i64) -> Result<Prepared, Failure> {
        match self {
            Self::Live(l) => l.prepare(order, deadline_ms).await,
            Self::Paper(p) => p.prepare(order, deadline_ms).await,
        }
    }

    async fn lookup(&self, order: &OrderRequest, deadline_ms: i64) -> Result<Lookup, Failure> {
        match self {
            Self::Live(l) => l.lookup(order, deadline_ms).await,
            Self::Paper(p) => p.lookup(order, deadline_ms).await,
        }
    }

    async fn submit(
        &self,
        order: &OrderRequest,
        prepared: &Prepared,
        deadline_ms: i64,
    ) -> Result<OrderAck, Failure> {
        match self {
            Self::Live(l) => l.submit(order, prepared, deadline_ms).await,
            Self::Paper(p) => p.submit(order, prepared, deadline_ms).await,
        }
    }

    async fn protect(&self, order: &OrderRequest, fill: &OrderAck, deadline_ms: i64) -> Protection {
        match self {
            Self::Live(l) => l.protect(order, fill, deadline_ms).await,
            Self::Paper(p) => p.protect(order, fill, deadline_ms).await,
        }
    }

    async fn fees(
        &self,
        order: &OrderRequest,
        ack: &OrderAck,
        deadline_ms: i64,
    ) -> Result<Option<Fee>, Failure> {
        match self {
            Self::Live(l) => l.fees(order, ack, deadline_ms).await,
            Self::Paper(p) => p.fees(order, ack, deadline_ms).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::tests::job;
    use contracts::config::RuntimeConfig;
    use exchanges::precision::fit;
    use futures::executor::block_on;

    #[test]
    fn paper_rounds_nothing_prices_at_the_signal_and_keeps_no_orders() {
        let j = job(
            r#"{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":"0.0012345","price":"65000.123"}"#,
        );
        let mut order = OrderRequest::for_job(&j, &RuntimeConfig::defaults()).unwrap();
        let p = block_on(PaperExchange.prepare(&order, 0)).unwrap();
        assert_eq!(p.reference_price.price.to_string(), "65000.123");
        let sized = fit(&order, &p.instrument).unwrap();
        assert_eq!(sized.quantity.to_string(), "0.0012345");
        assert_eq!(
            sized.price.map(|x| x.to_string()).as_deref(),
            Some("65000.123")
        );
        assert_eq!(
            block_on(PaperExchange.lookup(&order, 0)),
            Ok(Lookup::NotFound)
        );
        let ack = block_on(PaperExchange.submit(&order, &p, 0)).unwrap();
        assert_eq!(ack.filled_quantity, order.quantity);
        order.price = None;
        let refused = block_on(PaperExchange.prepare(&order, 0)).unwrap_err();
        assert_eq!(refused.class, FailureClass::Terminal);
    }
}
