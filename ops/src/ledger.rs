//! Reading the ledger: trades (orders with their signal), signals with their outcome, and the
//! counts behind `/status` and `hoox` — the `d1-worker`'s typed read API.
//!
//! Lists are newest first and page by `(time, key)`, so a page boundary never skips or repeats a
//! row even while the fan-out keeps writing.

use crate::query::{
    parse_exchange, parse_num, parse_symbol, parse_word, Cursor, FilterError, Paging, Query, Where,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Narrows trade and signal lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedgerFilter {
    pub symbol: Option<String>,
    pub exchange: Option<String>,
    /// Signals only: `filled`, `rejected`, `blocked`.
    pub outcome: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl LedgerFilter {
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(Self, Paging), FilterError> {
        let mut f = Self::default();
        let mut paging = Paging::default();
        for (k, v) in pairs {
            if paging.take(k, v)? {
                continue;
            }
            match k {
                "symbol" => f.symbol = Some(parse_symbol(v)?),
                "exchange" => f.exchange = Some(parse_exchange(v)?),
                "outcome" => f.outcome = Some(parse_word("outcome", v)?),
                "since" => f.since_ms = Some(parse_num("since", v)?),
                "until" => f.until_ms = Some(parse_num("until", v)?),
                other => return Err(FilterError::Unknown(other.to_owned())),
            }
        }
        Ok((f, paging))
    }

    pub fn to_pairs(&self, paging: &Paging) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, v) in [
            ("symbol", self.symbol.clone()),
            ("exchange", self.exchange.clone()),
            ("outcome", self.outcome.clone()),
            ("since", self.since_ms.map(|v| v.to_string())),
            ("until", self.until_ms.map(|v| v.to_string())),
        ] {
            if let Some(v) = v {
                out.push((k.to_owned(), v));
            }
        }
        paging.pairs(&mut out);
        out
    }
}

/// One order with what its signal asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeRow {
    pub client_order_id: String,
    pub idempotency_key: String,
    /// The exchange the signal named.
    pub exchange: Option<String>,
    /// Where it executed (`paper` in paper mode).
    pub venue: String,
    pub exchange_order_id: String,
    pub symbol: String,
    pub side: String,
    pub action: Option<String>,
    pub quantity: String,
    pub price: Option<String>,
    pub status: String,
    pub filled_quantity: String,
    pub average_price: Option<String>,
    pub created_at_ms: i64,
}

const TRADE_SELECT: &str = "SELECT o.client_order_id, o.idempotency_key, s.exchange AS exchange, \
     o.exchange AS venue, o.exchange_order_id, o.symbol, o.side, s.action AS action, o.quantity, o.price, \
     o.status, o.filled_quantity, o.average_price, o.created_at_ms \
     FROM orders o LEFT JOIN signals s ON s.idempotency_key = o.idempotency_key";

pub fn trades_query(f: &LedgerFilter, paging: &Paging) -> Query {
    let mut w = Where::default();
    w.eq_opt("o.symbol", f.symbol.clone());
    w.eq_opt("s.exchange", f.exchange.clone());
    if let Some(t) = f.since_ms {
        w.cmp("o.created_at_ms", ">=", t);
    }
    if let Some(t) = f.until_ms {
        w.cmp("o.created_at_ms", "<", t);
    }
    if let Some(c) = &paging.cursor {
        w.before("o.created_at_ms", "o.client_order_id", c);
    }
    let limit = w.page_limit(paging);
    Query::new(
        format!(
            "{TRADE_SELECT}{} ORDER BY o.created_at_ms DESC, o.client_order_id DESC LIMIT {limit}",
            w.sql()
        ),
        w.params,
    )
}

pub fn trade_cursor(t: &TradeRow) -> Cursor {
    Cursor {
        at: t.created_at_ms,
        tie: t.client_order_id.clone(),
    }
}

/// One signal and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalRow {
    pub idempotency_key: String,
    pub request_id: String,
    pub exchange: String,
    pub symbol: String,
    pub action: String,
    pub order_type: String,
    pub quantity: String,
    pub price: Option<String>,
    pub leverage: Option<i64>,
    pub test: i64,
    pub received_at_ms: i64,
    pub outcome: String,
    pub detail: Option<String>,
    pub attempts: i64,
    pub updated_at_ms: i64,
}

pub fn signals_query(f: &LedgerFilter, paging: &Paging) -> Query {
    let mut w = Where::default();
    w.eq_opt("symbol", f.symbol.clone());
    w.eq_opt("exchange", f.exchange.clone());
    w.eq_opt("outcome", f.outcome.clone());
    if let Some(t) = f.since_ms {
        w.cmp("received_at_ms", ">=", t);
    }
    if let Some(t) = f.until_ms {
        w.cmp("received_at_ms", "<", t);
    }
    if let Some(c) = &paging.cursor {
        w.before("received_at_ms", "idempotency_key", c);
    }
    let limit = w.page_limit(paging);
    Query::new(
        format!(
            "SELECT idempotency_key, request_id, exchange, symbol, action, order_type, quantity, price, \
             leverage, test, received_at_ms, outcome, detail, attempts, updated_at_ms FROM signals{} \
             ORDER BY received_at_ms DESC, idempotency_key DESC LIMIT {limit}",
            w.sql()
        ),
        w.params,
    )
}

pub fn signal_cursor(s: &SignalRow) -> Cursor {
    Cursor {
        at: s.received_at_ms,
        tie: s.idempotency_key.clone(),
    }
}

/// A `(name, n)` row of a grouped count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub name: Option<String>,
    pub n: i64,
}

/// The statements behind [`Stats`], in order: signals by outcome, dead letters by status,
/// orders, last signal time.
pub fn stats_queries() -> [Query; 4] {
    [
        Query::new(
            "SELECT outcome AS name, COUNT(*) AS n FROM signals GROUP BY outcome",
            vec![],
        ),
        Query::new(
            "SELECT status AS name, COUNT(*) AS n FROM dead_letters GROUP BY status",
            vec![],
        ),
        Query::new("SELECT NULL AS name, COUNT(*) AS n FROM orders", vec![]),
        Query::new(
            "SELECT NULL AS name, COALESCE(MAX(received_at_ms), 0) AS n FROM signals",
            vec![],
        ),
    ]
}

/// The ledger at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Signals by outcome (`filled`, `rejected`, `blocked`).
    pub signals: BTreeMap<String, i64>,
    /// Dead letters by status (`pending`, `replayed`, `discarded`).
    pub dead_letters: BTreeMap<String, i64>,
    pub orders: i64,
    pub last_signal_at_ms: Option<i64>,
    pub last_trade: Option<TradeRow>,
}

impl Stats {
    /// Assembles the results of [`stats_queries`] and the newest trade.
    pub fn from_counts(
        by_outcome: Vec<Count>,
        by_status: Vec<Count>,
        orders: Vec<Count>,
        last_signal: Vec<Count>,
        last_trade: Option<TradeRow>,
    ) -> Self {
        let map = |rows: Vec<Count>| {
            rows.into_iter()
                .filter_map(|c| Some((c.name?, c.n)))
                .collect()
        };
        Self {
            signals: map(by_outcome),
            dead_letters: map(by_status),
            orders: orders.first().map_or(0, |c| c.n),
            last_signal_at_ms: last_signal.first().map(|c| c.n).filter(|&n| n > 0),
            last_trade,
        }
    }

    pub fn pending_dead_letters(&self) -> i64 {
        self.dead_letters.get("pending").copied().unwrap_or(0)
    }
}

/// Newest trade only (for `/status`).
pub fn last_trade_query() -> Query {
    trades_query(
        &LedgerFilter::default(),
        &Paging {
            limit: Some(1),
            cursor: None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Param;

    #[test]
    fn trade_pages_continue_after_the_cursor() {
        let (f, mut p) =
            LedgerFilter::from_pairs([("symbol", "eth-usdt"), ("limit", "2")]).unwrap();
        p.cursor = Some(Cursor {
            at: 10,
            tie: "hxabc".into(),
        });
        let q = trades_query(&f, &p);
        assert!(q.sql.contains(
            "WHERE o.symbol = ?1 AND (o.created_at_ms < ?2 OR (o.created_at_ms = ?2 AND o.client_order_id < ?3))"
        ));
        assert_eq!(
            q.params,
            vec![
                Param::Text("ETHUSDT".into()),
                Param::Int(10),
                Param::Text("hxabc".into()),
                Param::Int(3)
            ]
        );
        let back =
            LedgerFilter::from_pairs(f.to_pairs(&p).iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .unwrap();
        assert_eq!(back, (f, p));
    }

    #[test]
    fn signals_filter_by_outcome() {
        let (f, p) = LedgerFilter::from_pairs([("outcome", "rejected")]).unwrap();
        let q = signals_query(&f, &p);
        assert!(q.sql.contains("WHERE outcome = ?1"));
        assert!(LedgerFilter::from_pairs([("outcome", "a b")]).is_err());
    }

    #[test]
    fn stats_assemble_from_grouped_counts() {
        let c = |name: Option<&str>, n| Count {
            name: name.map(str::to_owned),
            n,
        };
        let s = Stats::from_counts(
            vec![c(Some("filled"), 3), c(Some("rejected"), 1)],
            vec![c(Some("pending"), 2), c(Some("replayed"), 5)],
            vec![c(None, 3)],
            vec![c(None, 0)],
            None,
        );
        assert_eq!(s.signals["filled"], 3);
        assert_eq!(s.pending_dead_letters(), 2);
        assert_eq!(s.orders, 3);
        assert_eq!(s.last_signal_at_ms, None);
    }
}
