//! `trade:entries_paused`: the entries refused while exits keep running (freqtrade's `/stopbuy`,
//! and the risk manager's protections). A JSON list of pauses, each covering every entry of one
//! network, or one exchange of it, or one symbol (of one exchange or all):
//!
//! ```json
//! [{"network": "mainnet", "exchange": "bybit", "symbol": "BTCUSDT",
//!   "until_ms": 1767225600000, "reason": "max daily loss 5 % reached", "since_ms": 1767200000000}]
//! ```
//!
//! `exchange` and `symbol` are optional (absent: every exchange, every symbol); `until_ms` is
//! optional (absent: until an operator removes the pause); a pause whose `until_ms` has passed is
//! ignored. `reason` (1–200 printable characters) and `since_ms` are required. The exchange is the
//! one the order goes to: in paper mode, or for a `paper` signal, that is `paper`, whose network
//! is mainnet unless the signal is a test. Symbols are read in any spelling and kept canonical.
//!
//! Only opening signals (`LONG`, `SHORT`) are refused (`engine::pretrade`), as dead letters of
//! reason `entries_paused` an operator replays once the pause is lifted; closes always pass.
//! `trade:kill_switch` remains the stop of every submission.

use crate::signal::Exchange;
use crate::symbol::Symbol;
use serde::{Deserialize, Serialize};

/// The longest list accepted: pauses are per network, exchange or pair, never per signal.
pub const MAX_PAUSES: usize = 200;
/// The longest `reason` kept.
pub const MAX_REASON_CHARS: usize = 200;

/// One pause, as read (symbols canonical).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPause {
    pub testnet: bool,
    /// `None`: every exchange of the network.
    pub exchange: Option<Exchange>,
    /// Canonical; `None`: every symbol.
    pub symbol: Option<String>,
    /// Epoch ms; `None`: until removed.
    pub until_ms: Option<i64>,
    pub reason: String,
    pub since_ms: i64,
}

/// The stored shape (also what a pause serialises back to).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exchange: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until_ms: Option<i64>,
    reason: String,
    since_ms: i64,
}

impl Serialize for EntryPause {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Stored {
            network: crate::event::network_name(self.testnet).to_owned(),
            exchange: self.exchange.map(|e| e.as_str().to_owned()),
            symbol: self.symbol.clone(),
            until_ms: self.until_ms,
            reason: self.reason.clone(),
            since_ms: self.since_ms,
        }
        .serialize(s)
    }
}

impl EntryPause {
    /// Whether this pause refuses an entry on `venue`, `symbol` (canonical) and the network of
    /// `testnet` at `now_ms`.
    pub fn covers(&self, testnet: bool, venue: Exchange, symbol: &str, now_ms: i64) -> bool {
        self.testnet == testnet
            && self.until_ms.is_none_or(|u| now_ms < u)
            && self.exchange.is_none_or(|e| e == venue)
            && self.symbol.as_deref().is_none_or(|s| s == symbol)
    }

    /// What a refused entry's dead letter says.
    pub fn detail(&self) -> String {
        let scope = match (&self.exchange, &self.symbol) {
            (None, None) => "every entry".to_owned(),
            (Some(e), None) => format!("entries on {e}"),
            (None, Some(s)) => format!("entries on {s}"),
            (Some(e), Some(s)) => format!("entries on {e} {s}"),
        };
        let until = match self.until_ms {
            Some(u) => format!("until {u} ms"),
            None => "until resumed".to_owned(),
        };
        format!(
            "trade:entries_paused: {scope} on {} paused since {} ms {until}: {}; replay once resumed",
            crate::event::network_name(self.testnet),
            self.since_ms,
            self.reason
        )
    }
}

/// The first pause in force that refuses this entry.
pub fn in_force<'a>(
    pauses: &'a [EntryPause],
    testnet: bool,
    venue: Exchange,
    symbol: &str,
    now_ms: i64,
) -> Option<&'a EntryPause> {
    pauses
        .iter()
        .find(|p| p.covers(testnet, venue, symbol, now_ms))
}

/// Reads the stored list; `Err` says what is wrong (the config reader warns with it and fails
/// closed, the writer refuses it).
pub fn parse(v: &str) -> Result<Vec<EntryPause>, String> {
    let raw: Vec<Stored> = serde_json::from_str(v).map_err(|e| {
        format!("is not a JSON list of pauses {{network, exchange?, symbol?, until_ms?, reason, since_ms}} ({e})")
    })?;
    if raw.len() > MAX_PAUSES {
        return Err(format!(
            "holds {} pauses, more than {MAX_PAUSES}",
            raw.len()
        ));
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, p)| {
            let at = |m: String| format!("pause {i}: {m}");
            let testnet = match p.network.as_str() {
                "mainnet" => false,
                "testnet" => true,
                other => return Err(at(format!("network {other:?} is not mainnet or testnet"))),
            };
            let exchange = p
                .exchange
                .map(|e| {
                    e.parse::<Exchange>().map_err(|()| {
                        at(format!(
                            "exchange {e:?} is not one of bybit, binance, mexc, paper"
                        ))
                    })
                })
                .transpose()?;
            let symbol = p
                .symbol
                .map(|s| {
                    Symbol::parse(&s)
                        .map(|s| s.canonical())
                        .map_err(|e| at(format!("symbol {s:?}: {e}")))
                })
                .transpose()?;
            let reason = p.reason.trim();
            if reason.is_empty()
                || reason.chars().count() > MAX_REASON_CHARS
                || reason.chars().any(char::is_control)
            {
                return Err(at(format!(
                    "reason must be 1 to {MAX_REASON_CHARS} printable characters"
                )));
            }
            if p.since_ms < 0 {
                return Err(at("since_ms must be epoch milliseconds (≥ 0)".into()));
            }
            if let Some(u) = p.until_ms {
                if u <= p.since_ms {
                    return Err(at(format!(
                        "until_ms {u} is not after since_ms {}",
                        p.since_ms
                    )));
                }
            }
            Ok(EntryPause {
                testnet,
                exchange,
                symbol,
                until_ms: p.until_ms,
                reason: reason.to_owned(),
                since_ms: p.since_ms,
            })
        })
        .collect()
}

/// What an unreadable list reads as: every entry on both networks paused (fail closed, as the
/// kill switch does; exits still run), with why in the reason.
pub fn unreadable(why: &str) -> Vec<EntryPause> {
    [false, true]
        .into_iter()
        .map(|testnet| EntryPause {
            testnet,
            exchange: None,
            symbol: None,
            until_ms: None,
            reason: format!("trade:entries_paused is unreadable ({why}); every entry is paused"),
            since_ms: 0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn one(v: &str) -> EntryPause {
        let mut all = parse(v).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    #[test]
    fn a_network_wide_pause_covers_every_exchange_and_symbol_of_that_network_only() {
        let p = one(r#"[{"network":"mainnet","reason":"drawdown","since_ms":1}]"#);
        for venue in Exchange::ALL {
            assert!(p.covers(false, venue, "BTCUSDT", NOW));
            assert!(!p.covers(true, venue, "BTCUSDT", NOW), "testnet is its own");
        }
    }

    #[test]
    fn exchange_and_symbol_narrow_a_pause() {
        let p = one(
            r#"[{"network":"testnet","exchange":"Bybit","symbol":"btc/usdt","reason":"cooldown","since_ms":1}]"#,
        );
        assert_eq!(p.symbol.as_deref(), Some("BTCUSDT"), "canonical");
        assert!(p.covers(true, Exchange::Bybit, "BTCUSDT", NOW));
        assert!(!p.covers(true, Exchange::Binance, "BTCUSDT", NOW));
        assert!(!p.covers(true, Exchange::Bybit, "ETHUSDT", NOW));
        let any_exchange =
            one(r#"[{"network":"testnet","symbol":"ETHUSDT","reason":"r","since_ms":1}]"#);
        assert!(any_exchange.covers(true, Exchange::Mexc, "ETHUSDT", NOW));
        assert!(!any_exchange.covers(true, Exchange::Mexc, "BTCUSDT", NOW));
    }

    #[test]
    fn an_expired_pause_is_ignored_and_an_open_ended_one_lasts() {
        let pauses = parse(
            r#"[{"network":"mainnet","until_ms":1000,"reason":"guard","since_ms":1},
                {"network":"mainnet","exchange":"paper","reason":"operator","since_ms":1}]"#,
        )
        .unwrap();
        assert!(in_force(&pauses, false, Exchange::Bybit, "BTCUSDT", 999).is_some());
        assert!(in_force(&pauses, false, Exchange::Bybit, "BTCUSDT", 1000).is_none());
        let paper = in_force(&pauses, false, Exchange::Paper, "BTCUSDT", i64::MAX).unwrap();
        assert_eq!(paper.reason, "operator");
        assert!(paper.detail().contains("operator"));
        assert!(paper.detail().contains("until resumed"));
    }

    #[test]
    fn bad_lists_are_refused_with_the_entry_and_the_rule() {
        for (v, says) in [
            ("{}", "JSON list"),
            (
                r#"[{"network":"live","reason":"r","since_ms":1}]"#,
                "network",
            ),
            (
                r#"[{"network":"mainnet","exchange":"ftx","reason":"r","since_ms":1}]"#,
                "exchange",
            ),
            (
                r#"[{"network":"mainnet","symbol":"","reason":"r","since_ms":1}]"#,
                "symbol",
            ),
            (
                r#"[{"network":"mainnet","reason":" ","since_ms":1}]"#,
                "reason",
            ),
            (r#"[{"network":"mainnet","since_ms":1}]"#, "reason"),
            (r#"[{"network":"mainnet","reason":"r"}]"#, "since_ms"),
            (
                r#"[{"network":"mainnet","reason":"r","since_ms":5,"until_ms":5}]"#,
                "until_ms",
            ),
            (
                r#"[{"network":"mainnet","reason":"r","since_ms":1,"side":"long"}]"#,
                "side",
            ),
        ] {
            let e = parse(v).expect_err(v);
            assert!(e.contains(says), "{v}: {e}");
        }
        assert_eq!(parse("[]"), Ok(vec![]));
    }

    #[test]
    fn a_pause_serialises_back_to_its_stored_shape() {
        let v = r#"[{"network":"testnet","exchange":"mexc","symbol":"BTCUSDT","until_ms":9,"reason":"r","since_ms":1}]"#;
        let back = serde_json::to_string(&parse(v).unwrap()).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn unreadable_pauses_every_entry_on_both_networks() {
        let all = unreadable("bad");
        for testnet in [false, true] {
            assert!(in_force(&all, testnet, Exchange::Paper, "X", NOW).is_some());
        }
    }
}

#[cfg(test)]
mod config_tests {
    use crate::config::{validate_write, RuntimeConfig, ENTRIES_PAUSED};

    #[test]
    fn every_write_is_validated_and_an_unreadable_value_pauses_every_entry() {
        assert!(validate_write(
            ENTRIES_PAUSED,
            r#"[{"network":"mainnet","reason":"r","since_ms":1}]"#
        )
        .is_ok());
        let e = validate_write(ENTRIES_PAUSED, r#"[{"network":"mainnet"}]"#).unwrap_err();
        assert!(e.to_string().contains(ENTRIES_PAUSED), "{e}");
        let (cfg, warnings) = RuntimeConfig::read(|k| (k == ENTRIES_PAUSED).then(|| "nope".into()));
        assert_eq!(warnings.len(), 1);
        assert_eq!(cfg.entries_paused.len(), 2, "both networks paused");
        let (cfg, warnings) = RuntimeConfig::read(|_| None);
        assert!(warnings.is_empty() && cfg.entries_paused.is_empty());
    }
}
