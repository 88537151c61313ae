//! The entries-paused list as stored in CONFIG_KV (`trade:entries_paused`), which the
//! trade-worker enforces for opening signals, and the agent's edits of it: a protection's pause
//! added, an operator's pause or resume, expired entries dropped.
//!
//! The list is the one record of what is paused, so an operator, a protection and the
//! trade-worker always agree; the agent re-reads it before each write (the config writer
//! validates and audits every change).

use crate::evaluate::{Breach, EntriesPaused, Network, Pair, Pause, PauseReason, PauseScope};
use contracts::signal::Exchange;
use contracts::symbol::Symbol;

/// One stored pause (the trade-worker's own type: one record, read and written alike).
pub use contracts::pause::EntryPause as PauseRecord;

fn in_force_at(r: &PauseRecord, now_ms: i64) -> bool {
    r.until_ms.is_none_or(|u| u > now_ms)
}

/// Whether `r` lies inside the scope (network, then exchange, then symbol narrowing).
fn within(
    r: &PauseRecord,
    testnet: bool,
    exchange: Option<Exchange>,
    symbol: Option<&str>,
) -> bool {
    r.testnet == testnet
        && exchange.is_none_or(|e| r.exchange == Some(e))
        && symbol.is_none_or(|s| r.symbol.as_deref() == Some(s))
}

/// Parses the stored list (absent or empty: nothing paused).
pub fn parse(raw: Option<&str>) -> Result<Vec<PauseRecord>, String> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(Vec::new()),
        Some(r) => contracts::pause::parse(r),
    }
}

/// The pauses in force as the evaluation reads them. An exchange-wide pause without a symbol
/// has no scope there; it still blocks entries at the trade-worker.
pub fn in_force(records: &[PauseRecord], now_ms: i64) -> Vec<EntriesPaused> {
    records
        .iter()
        .filter(|r| in_force_at(r, now_ms))
        .filter_map(|r| {
            let network = Network::from_testnet(r.testnet);
            let pair = match (&r.exchange, &r.symbol) {
                (None, None) => None,
                (Some(e), Some(s)) => Some(Pair {
                    exchange: *e,
                    symbol: Symbol::parse(s).ok()?,
                }),
                _ => return None,
            };
            Some(EntriesPaused {
                scope: PauseScope { network, pair },
                until_ms: r.until_ms.and_then(|u| u64::try_from(u).ok()),
            })
        })
        .collect()
}

/// What a pause's reason says, for the record, the alert and the trade-worker's dead letter.
pub fn describe(reason: &PauseReason) -> String {
    match reason {
        PauseReason::Breach(Breach::DailyLoss { loss_pct, limit }) => format!(
            "max daily loss: equity {} % below the start of the day (limit {limit})",
            loss_pct.round_dp(2).normalize()
        ),
        PauseReason::Breach(Breach::Drawdown {
            drawdown_pct,
            limit,
        }) => format!(
            "max drawdown: equity {} % below its peak (limit {limit})",
            drawdown_pct.round_dp(2).normalize()
        ),
        PauseReason::StoplossGuard {
            stop_outs,
            window_minutes,
        } => format!("StoplossGuard: {stop_outs} stop-outs within {window_minutes} minutes"),
        PauseReason::Cooldown { minutes, .. } => {
            format!("cooldown: {minutes} minutes after an exit")
        }
    }
}

/// The record of a protection's pause.
pub fn record_of(pause: &Pause, now_ms: i64) -> PauseRecord {
    PauseRecord {
        testnet: pause.scope.network == Network::Testnet,
        exchange: pause.scope.pair.as_ref().map(|p| p.exchange),
        symbol: pause.scope.pair.as_ref().map(|p| p.symbol.canonical()),
        until_ms: pause.until_ms.and_then(|u| i64::try_from(u).ok()),
        reason: describe(&pause.reason),
        since_ms: now_ms,
    }
}

/// `records` with `added` appended and expired entries dropped.
pub fn add(records: &[PauseRecord], added: &[PauseRecord], now_ms: i64) -> Vec<PauseRecord> {
    records
        .iter()
        .chain(added)
        .filter(|r| in_force_at(r, now_ms))
        .cloned()
        .collect()
}

/// `records` without the pauses inside the scope (a network-wide resume lifts every pause of
/// the network; a pair's lifts that pair's), and what was lifted. Expired entries go too.
pub fn resume(
    records: &[PauseRecord],
    network: Network,
    exchange: Option<Exchange>,
    symbol: Option<&str>,
    now_ms: i64,
) -> (Vec<PauseRecord>, Vec<PauseRecord>) {
    let testnet = network == Network::Testnet;
    let (lifted, kept): (Vec<_>, Vec<_>) = records
        .iter()
        .filter(|r| in_force_at(r, now_ms))
        .cloned()
        .partition(|r| within(r, testnet, exchange, symbol));
    (kept, lifted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(network: &str, pair: Option<(&str, &str)>, until: Option<i64>) -> PauseRecord {
        PauseRecord {
            testnet: network == "testnet",
            exchange: pair.map(|p| p.0.parse().unwrap()),
            symbol: pair.map(|p| p.1.into()),
            until_ms: until,
            reason: "x".into(),
            since_ms: 1,
        }
    }

    #[test]
    fn expired_pauses_are_not_in_force_and_drop_on_the_next_write() {
        let list = [rec("mainnet", None, Some(10)), rec("testnet", None, None)];
        assert_eq!(in_force(&list, 11).len(), 1);
        assert_eq!(add(&list, &[], 11), vec![list[1].clone()]);
    }

    #[test]
    fn a_network_resume_lifts_its_pair_pauses_but_not_the_other_network() {
        let list = [
            rec("mainnet", Some(("bybit", "BTCUSDT")), None),
            rec("mainnet", None, None),
            rec("testnet", None, None),
        ];
        let (kept, lifted) = resume(&list, Network::Mainnet, None, None, 5);
        assert_eq!(kept, vec![list[2].clone()]);
        assert_eq!(lifted.len(), 2);
        let (kept, lifted) = resume(
            &list,
            Network::Mainnet,
            Some(Exchange::Bybit),
            Some("BTCUSDT"),
            5,
        );
        assert_eq!(lifted, vec![list[0].clone()]);
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn the_stored_list_round_trips_and_bad_json_is_an_error() {
        let list = vec![rec("mainnet", Some(("mexc", "ETHUSDT")), Some(99))];
        let text = serde_json::to_string(&list).unwrap();
        assert_eq!(parse(Some(&text)).unwrap(), list);
        assert_eq!(parse(None).unwrap(), vec![]);
        assert_eq!(parse(Some("  ")).unwrap(), vec![]);
        assert!(parse(Some("{")).is_err());
        let scopes = in_force(&list, 5);
        assert_eq!(
            scopes[0].scope.pair.as_ref().map(|p| p.exchange),
            Some(Exchange::Mexc)
        );
    }
}
