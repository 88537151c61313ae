//! The checks a job passes before anything may be submitted for it, in one place, so a fresh
//! claim and an in-doubt claim whose lookup found nothing go through exactly the same ones: the
//! kill switch (KV mirror), freshness, the exchange's `enabled` flag, the order's own pre-trade
//! checks, and, once the exchange has given its reference price, the order against that price.
//!
//! Also the order an in-doubt lookup needs: the order as it would have been sent, whatever the
//! checks say now (the config may have changed since the earlier attempt submitted it).

use contracts::config::{Mode, RuntimeConfig};
use contracts::job::{DeadLetterReason, TradeJob};
use contracts::signal::Exchange;
use exchanges::order::{OrderRequest, PreTradeError};
use rust_decimal::Decimal;

/// A job refused before any order: it ends as a dead letter an operator may replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: DeadLetterReason,
    pub detail: String,
}

/// The kill switch's detail when the KV mirror says it is on.
pub const KILL_SWITCH_DETAIL: &str =
    "trade:kill_switch is on (or unreadable); replay once it is off";

/// Where an order goes: its exchange in live mode, paper otherwise.
pub fn venue_of(order: &OrderRequest, cfg: &RuntimeConfig) -> Exchange {
    match cfg.mode {
        Mode::Live => order.exchange,
        Mode::Paper => Exchange::Paper,
    }
}

/// Where a job goes: paper unless live mode routes a valid order to a real exchange.
pub fn route(order: &Result<OrderRequest, PreTradeError>, cfg: &RuntimeConfig) -> Exchange {
    order.as_ref().map_or(Exchange::Paper, |o| venue_of(o, cfg))
}

/// The checks that need no exchange and end a job as a dead letter: the kill switch's mirror,
/// the signal's age (from an operator's replay, else the sender's time, else intake),
/// `exchange:<venue>:enabled`, and for an opening signal the pauses of `trade:entries_paused`
/// on the venue it goes to (paper in paper mode) and its network (closes always pass).
pub fn refusal(
    job: &TradeJob,
    venue: Exchange,
    cfg: &RuntimeConfig,
    replayed_at_ms: Option<i64>,
    now_ms: i64,
) -> Option<Refusal> {
    if cfg.kill_switch {
        return Some(Refusal {
            reason: DeadLetterReason::KillSwitch,
            detail: KILL_SWITCH_DETAIL.into(),
        });
    }
    // An operator's replay is a fresh decision: its age counts from the replay.
    let signal_time = replayed_at_ms
        .or(job.signal.timestamp_ms)
        .unwrap_or(job.received_at_ms);
    let age_ms = now_ms.saturating_sub(signal_time);
    let max_ms = i64::try_from(cfg.max_signal_age_seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    if cfg.max_signal_age_seconds > 0 && age_ms > max_ms {
        return Some(Refusal {
            reason: DeadLetterReason::Stale,
            detail: format!(
                "signal is {} s old, over trade:max_signal_age_seconds = {}",
                age_ms / 1000,
                cfg.max_signal_age_seconds
            ),
        });
    }
    if !cfg.exchange_enabled.get(&venue).copied().unwrap_or(false) {
        return Some(Refusal {
            reason: DeadLetterReason::ExchangeDisabled,
            detail: format!("exchange:{venue}:enabled is off"),
        });
    }
    if !job.signal.action.is_close() && !cfg.entries_paused.is_empty() {
        let symbol = job.signal.symbol.canonical();
        let paused = contracts::pause::in_force(
            &cfg.entries_paused,
            job.signal.test,
            venue,
            &symbol,
            now_ms,
        );
        if let Some(p) = paused {
            return Some(Refusal {
                reason: DeadLetterReason::EntriesPaused,
                detail: p.detail(),
            });
        }
    }
    None
}

/// The order an earlier attempt would have sent for `job`, whatever today's allow-list and
/// notional, leverage and quantity caps say, for looking it up by client order id. `None` when
/// no attempt could ever have built one, so none was ever submitted.
pub fn order_for_lookup(
    job: &TradeJob,
    order: &Result<OrderRequest, PreTradeError>,
    cfg: &RuntimeConfig,
) -> Option<OrderRequest> {
    if let Ok(o) = order {
        return Some(o.clone());
    }
    // Rare (an in-doubt job the config now refuses): the cost of a config copy is fine here.
    let lax = RuntimeConfig {
        allowed_symbols: vec![],
        max_order_notional: Decimal::MAX,
        max_leverage: 125,
        max_quantity: Default::default(),
        ..cfg.clone()
    };
    OrderRequest::for_job(job, &lax).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::tests::job;
    use exchanges::order::ReferencePrice;

    fn order(quantity: &str) -> OrderRequest {
        let j = job(&format!(
            r#"{{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"{quantity}","price":"1"}}"#
        ));
        OrderRequest::for_job(&j, &RuntimeConfig::defaults()).unwrap()
    }

    #[test]
    fn notional_is_judged_at_the_reference_price() {
        let cfg = RuntimeConfig::defaults(); // cap 1000
        let mut o = order("0.01");
        o.price = None; // a market order: only the notional is judged
        let at = |p: i64| o.check_against(ReferencePrice::mark(Decimal::from(p)), &cfg);
        assert_eq!(at(60_000), Ok(()));
        assert!(matches!(
            at(200_000),
            Err(PreTradeError::NotionalTooLarge { .. })
        ));
    }

    #[test]
    fn an_overflowing_notional_is_a_refusal_not_a_panic() {
        let mut o = order("1");
        o.quantity = Decimal::MAX;
        assert!(o
            .check_against(
                ReferencePrice::mark(Decimal::from(2)),
                &RuntimeConfig::defaults()
            )
            .is_err());
    }

    #[test]
    fn the_lookup_order_ignores_todays_caps_but_keeps_the_client_order_id() {
        let mut cfg = RuntimeConfig::defaults();
        cfg.allowed_symbols = vec!["ETHUSDT".into()];
        let j = job(
            r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"1","price":"60000"}"#,
        );
        let strict = OrderRequest::for_job(&j, &cfg);
        assert!(strict.is_err());
        let lax = order_for_lookup(&j, &strict, &cfg).expect("an order to look up");
        assert_eq!(
            lax.client_order_id,
            contracts::idempotency::client_order_id(&j.idempotency_key, j.received_at_ms)
        );
        // A live market order needs no price of its own (the exchange's is the reference), so
        // an earlier attempt may have sent one: it is looked up too.
        let unpriced =
            job(r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"1"}"#);
        let strict = OrderRequest::for_job(&unpriced, &cfg);
        assert!(order_for_lookup(&unpriced, &strict, &cfg).is_some());
    }

    #[test]
    fn refusals_in_order_kill_switch_stale_disabled() {
        let j = job(
            r#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"1","price":"1"}"#,
        );
        let mut cfg = RuntimeConfig::defaults();
        assert_eq!(refusal(&j, Exchange::Bybit, &cfg, None, 1_000), None);
        let old = 301_000 + j.received_at_ms;
        assert_eq!(
            refusal(&j, Exchange::Bybit, &cfg, None, old).map(|r| r.reason),
            Some(DeadLetterReason::Stale)
        );
        // A replay counts its age from the replay.
        assert_eq!(refusal(&j, Exchange::Bybit, &cfg, Some(old - 1), old), None);
        cfg.exchange_enabled.insert(Exchange::Bybit, false);
        assert_eq!(
            refusal(&j, Exchange::Bybit, &cfg, None, 0).map(|r| r.reason),
            Some(DeadLetterReason::ExchangeDisabled)
        );
        cfg.kill_switch = true;
        assert_eq!(
            refusal(&j, Exchange::Bybit, &cfg, None, old).map(|r| r.reason),
            Some(DeadLetterReason::KillSwitch)
        );
    }
}
