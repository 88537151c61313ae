//! Reading the ledger: trades (orders with their signal), signals with their outcome, and the
//! counts behind `/status` and `hoox` — the `d1-worker`'s typed read API.
//!
//! Lists are newest first and page by `(time, key)`, so a page boundary never skips or repeats a
//! row even while the fan-out keeps writing.

use crate::query::{
    parse_exchange, parse_num, parse_symbol, parse_word, Cursor, FilterError, Paging, Param, Query,
    Where,
};
use contracts::event::{FollowState, TradeEvent};
use contracts::signal::Exchange;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Narrows trade and signal lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedgerFilter {
    pub symbol: Option<String>,
    pub exchange: Option<String>,
    /// Signals only: `filled`, `rejected`, `blocked`.
    pub outcome: Option<String>,
    /// Signals only: who sent them, the prefix of their idempotency key (`email` for mail,
    /// `risk` for the agent's closes; webhook senders name their own keys).
    pub source: Option<String>,
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
                "source" => f.source = Some(parse_source(v)?),
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
            ("source", self.source.clone()),
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

/// A `source` filter: lower-case letters only, so it is a plain key prefix in `LIKE`.
fn parse_source(v: &str) -> Result<String, FilterError> {
    let v = v.trim();
    if v.is_empty() || v.len() > 32 || !v.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(FilterError::Invalid {
            field: "source",
            message: "lower-case letters only (email, risk)".into(),
        });
    }
    Ok(v.to_owned())
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
    /// When the fan-out's Telegram alert about the latest event went out (or was skipped).
    #[serde(default)]
    pub alerted_at_ms: Option<i64>,
    /// What became of that alert: sent, or why not.
    #[serde(default)]
    pub alert: Option<String>,
}

const SIGNAL_COLUMNS: &str = "idempotency_key, request_id, exchange, symbol, action, order_type, \
     quantity, price, leverage, test, received_at_ms, outcome, detail, attempts, updated_at_ms, \
     alerted_at_ms, alert";

/// Records what became of the alert about `key`'s latest event. Written after the alert, and
/// not retried with it: a missing record must not send the message twice.
pub fn alerted_query(key: &str, at_ms: i64, note: &str) -> Query {
    Query::new(
        "UPDATE signals SET alerted_at_ms = ?1, alert = ?2 WHERE idempotency_key = ?3",
        vec![at_ms.into(), note.into(), key.into()],
    )
}

pub fn signals_query(f: &LedgerFilter, paging: &Paging) -> Query {
    let mut w = Where::default();
    w.eq_opt("symbol", f.symbol.clone());
    w.eq_opt("exchange", f.exchange.clone());
    w.eq_opt("outcome", f.outcome.clone());
    if let Some(source) = &f.source {
        // `parse_source` keeps LIKE's wildcards out.
        w.cmp("idempotency_key", "LIKE", format!("{source}:%"));
    }
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
            "SELECT {SIGNAL_COLUMNS} FROM signals{} ORDER BY received_at_ms DESC, idempotency_key DESC LIMIT {limit}",
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
/// A signal by its key.
pub fn signal_query(key: &str) -> Query {
    Query::new(
        format!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE idempotency_key = ?1"),
        vec![key.into()],
    )
}

/// The orders of a signal's key, oldest first.
pub fn orders_of_query(key: &str) -> Query {
    Query::new(
        format!("{TRADE_SELECT} WHERE o.idempotency_key = ?1 ORDER BY o.created_at_ms LIMIT 20"),
        vec![key.into()],
    )
}

/// Signals recorded or updated after `since_ms`, oldest change first (the live feed).
pub fn signals_since_query(since_ms: i64, limit: u32) -> Query {
    Query::new(
        format!(
            "SELECT {SIGNAL_COLUMNS} FROM signals WHERE updated_at_ms > ?1 \
             ORDER BY updated_at_ms, idempotency_key LIMIT {limit}"
        ),
        vec![since_ms.into()],
    )
}

/// Signals received since `since_ms` by outcome (the overview's "today").
pub fn outcomes_since_query(since_ms: i64) -> Query {
    Query::new(
        "SELECT outcome AS name, COUNT(*) AS n FROM signals WHERE received_at_ms >= ?1 GROUP BY outcome",
        vec![since_ms.into()],
    )
}

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
    /// Signals received since the `since` the caller asked for, by outcome (empty if none).
    #[serde(default)]
    pub since: BTreeMap<String, i64>,
}

/// Counts by name (rows without a name dropped).
pub fn count_map(rows: Vec<Count>) -> BTreeMap<String, i64> {
    rows.into_iter()
        .filter_map(|c| Some((c.name?, c.n)))
        .collect()
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
        Self {
            signals: count_map(by_outcome),
            dead_letters: count_map(by_status),
            orders: orders.first().map_or(0, |c| c.n),
            last_signal_at_ms: last_signal.first().map(|c| c.n).filter(|&n| n > 0),
            last_trade,
            since: BTreeMap::new(),
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

// ---- Writing the ledger from trade events ----

/// A text key of how far an order has got, ordered as its states are: filled quantity first,
/// then how final it is (following < left open or stopped < final), then the event's time.
/// Fixed-width, so SQLite compares it as text exactly as the tuple compares: the fan-out's
/// upsert applies an event only if its key is at least the row's, and a later but less filled
/// or less final event (a redelivered outcome, an update overtaken by the next) never
/// overwrites a more advanced one, whatever order the queue delivers them in.
///
/// The fill is counted in units of 10^-12 (finer digits truncated; webhook quantities have at
/// most 12) and saturates at 10^17 base units; times before the epoch count as 0.
pub fn order_progress(filled: Decimal, rank: u8, at_ms: i64) -> String {
    const SCALE: u32 = 12;
    const MAX_UNITS: i128 = 10i128.pow(29) - 1;
    let q = filled
        .max(Decimal::ZERO)
        .round_dp_with_strategy(SCALE, rust_decimal::RoundingStrategy::ToZero);
    let units = q
        .mantissa()
        .checked_mul(10i128.pow(SCALE.saturating_sub(q.scale())))
        .map_or(MAX_UNITS, |u| u.clamp(0, MAX_UNITS));
    format!(
        "{units:029}:{rank}:{:013}",
        at_ms.clamp(0, 9_999_999_999_999)
    )
}

/// How final an event's order is, for [`order_progress`] and the row's `follow_state`: an
/// update says; an outcome is final if its status is, else followed when it went to a real
/// exchange (the attempt started its follow-up), else not followed at all (`None`).
pub fn follow_state_of(e: &TradeEvent) -> (u8, Option<FollowState>) {
    if let Some(u) = &e.update {
        return (u.state.rank(), Some(u.state));
    }
    match e.status_class() {
        Some(c) if c.is_final() => (FollowState::Final.rank(), Some(FollowState::Final)),
        Some(_) if e.venue.is_some_and(|v| v != Exchange::Paper) => {
            (FollowState::Following.rank(), Some(FollowState::Following))
        }
        _ => (0, None),
    }
}

/// The `signals` upsert of an outcome event; `None` for a follow-up's update, which changes the
/// order, not the signal (its outcome is the idempotency store's).
pub fn signal_upsert(e: &TradeEvent) -> Option<Query> {
    if e.update.is_some() {
        return None;
    }
    let s = &e.signal;
    Some(Query::new(
        "INSERT INTO signals (idempotency_key, request_id, exchange, symbol, action, order_type, \
         quantity, price, leverage, test, received_at_ms, outcome, detail, attempts, updated_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
         ON CONFLICT (idempotency_key) DO UPDATE SET outcome = excluded.outcome, \
         detail = excluded.detail, attempts = excluded.attempts, updated_at_ms = excluded.updated_at_ms",
        vec![
            e.idempotency_key.clone().into(),
            e.request_id.clone().into(),
            s.exchange.as_str().into(),
            s.symbol.canonical().into(),
            s.action.as_str().into(),
            s.order_type.as_str().into(),
            s.quantity.to_string().into(),
            s.price.map(|p| p.to_string()).into(),
            s.leverage.map(i64::from).into(),
            Param::Int(i64::from(u8::from(s.test))),
            Param::Int(e.received_at_ms),
            e.outcome.as_str().into(),
            e.detail.clone().into(),
            Param::Int(i64::from(e.attempts)),
            Param::Int(e.at_ms),
        ],
    ))
}

/// `paper` for paper orders (their exchange ids say so), `live` otherwise: the `orders.exchange`
/// column as it always was. Where the order went exactly is `venue_exchange`.
fn venue_kind(e: &TradeEvent, o: &contracts::event::OrderAck) -> &'static str {
    match e.venue {
        Some(Exchange::Paper) => "paper",
        Some(_) => "live",
        None if o.exchange_order_id.starts_with("paper-") => "paper",
        None => "live",
    }
}

/// The `orders` upsert of an event with an order, by client order id, applied only when the
/// event is at least as advanced as the row ([`order_progress`]; rows from before it have none
/// and take any event).
pub fn order_upsert(e: &TradeEvent) -> Option<Query> {
    let o = e.order.as_ref()?;
    let s = &e.signal;
    let (rank, state) = follow_state_of(e);
    Some(Query::new(
        "INSERT INTO orders (client_order_id, idempotency_key, exchange, exchange_order_id, symbol, \
         side, quantity, price, status, filled_quantity, average_price, created_at_ms, fee, \
         fee_asset, follow_state, progress, updated_at_ms, venue_exchange, network) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) \
         ON CONFLICT (client_order_id) DO UPDATE SET \
         exchange_order_id = CASE WHEN excluded.exchange_order_id = '' THEN orders.exchange_order_id \
         ELSE excluded.exchange_order_id END, status = excluded.status, \
         filled_quantity = excluded.filled_quantity, average_price = excluded.average_price, \
         fee = excluded.fee, fee_asset = excluded.fee_asset, follow_state = excluded.follow_state, \
         progress = excluded.progress, updated_at_ms = excluded.updated_at_ms, \
         venue_exchange = COALESCE(excluded.venue_exchange, orders.venue_exchange), \
         network = COALESCE(excluded.network, orders.network) \
         WHERE orders.progress IS NULL OR excluded.progress >= orders.progress",
        vec![
            o.client_order_id.clone().into(),
            e.idempotency_key.clone().into(),
            venue_kind(e, o).into(),
            o.exchange_order_id.clone().into(),
            s.symbol.canonical().into(),
            (if s.action.is_buy() { "Buy" } else { "Sell" }).into(),
            s.quantity.to_string().into(),
            s.price.map(|p| p.to_string()).into(),
            o.status.clone().into(),
            o.filled_quantity.normalize().to_string().into(),
            o.average_price.map(|p| p.normalize().to_string()).into(),
            Param::Int(e.at_ms),
            e.fee.as_ref().map(|f| f.amount.normalize().to_string()).into(),
            e.fee.as_ref().map(|f| f.asset.clone()).into(),
            state.map(FollowState::as_str).into(),
            order_progress(o.filled_quantity, rank, e.at_ms).into(),
            Param::Int(e.at_ms),
            e.venue.map(|v| v.as_str()).into(),
            e.venue.map(|_| e.network()).into(),
        ],
    ))
}

/// Every statement an event writes, in order: its signal (outcomes only), then its order.
pub fn event_writes(e: &TradeEvent) -> Vec<Query> {
    signal_upsert(e)
        .into_iter()
        .chain(order_upsert(e))
        .collect()
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
    fn signals_filter_by_source_as_their_key_prefix() {
        let (f, p) = LedgerFilter::from_pairs([("source", "email")]).unwrap();
        let q = signals_query(&f, &p);
        assert!(q.sql.contains("WHERE idempotency_key LIKE ?1"), "{}", q.sql);
        assert_eq!(q.params[0], Param::Text("email:%".into()));
        for bad in ["e%", "E", "a_b", ""] {
            assert!(
                LedgerFilter::from_pairs([("source", bad)]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn signals_filter_by_outcome() {
        let (f, p) = LedgerFilter::from_pairs([("outcome", "rejected")]).unwrap();
        let q = signals_query(&f, &p);
        assert!(q.sql.contains("WHERE outcome = ?1"));
        assert!(LedgerFilter::from_pairs([("outcome", "a b")]).is_err());
    }

    mod writes {
        use super::super::*;
        use contracts::event::{Fee, OrderAck, OrderUpdate, Outcome};
        use contracts::job::TradeJob;
        use contracts::signal::parse_webhook;
        use std::str::FromStr;

        fn event(status: &str, filled: &str, at: i64, update: Option<FollowState>) -> TradeEvent {
            let job = TradeJob {
                idempotency_key: "k".into(),
                request_id: "r".into(),
                received_at_ms: 1,
                signal: parse_webhook(
                    br#"{"exchange":"bybit","action":"LONG","symbol":"BTCUSDT","quantity":"0.01","price":"60000","test":true}"#,
                )
                .unwrap()
                .signal,
            };
            let mut e = TradeEvent::for_job(&job, Outcome::Filled, 1, at);
            e.order = Some(OrderAck {
                client_order_id: "hx1".into(),
                exchange_order_id: "42".into(),
                status: status.into(),
                filled_quantity: Decimal::from_str(filled).unwrap(),
                average_price: None,
            });
            e.venue = Some(Exchange::Bybit);
            e.update = update.map(|state| OrderUpdate {
                state,
                lookups: 1,
                first_seen_ms: 1,
                status_changed: true,
                fill_changed: true,
            });
            e
        }

        fn progress(e: &TradeEvent) -> String {
            let (rank, _) = follow_state_of(e);
            let o = e.order.as_ref().unwrap();
            order_progress(o.filled_quantity, rank, e.at_ms)
        }

        /// Issue 13. The old upsert let any event overwrite the row: an outcome redelivered
        /// after its order's fill ("New", 0 filled) put the order back to unfilled.
        #[test]
        fn a_less_filled_or_less_final_update_never_overwrites_a_more_advanced_one() {
            let ack = event("Acknowledged", "0", 10, None);
            let rest = event("New", "0", 20, Some(FollowState::Following));
            let part = event("PartiallyFilled", "0.004", 30, Some(FollowState::Following));
            let full = event("Filled", "0.01", 40, Some(FollowState::Final));
            let ordered = [&ack, &rest, &part, &full];
            for pair in ordered.windows(2) {
                assert!(progress(pair[0]) < progress(pair[1]), "{:?}", pair[1].order);
            }
            // Later but less filled (a lagging copy, or a redelivered outcome) sorts lower.
            let stale = event("PartiallyFilled", "0.004", 99, Some(FollowState::Following));
            assert!(progress(&stale) < progress(&full));
            // Same fill: final beats following, whatever the time.
            let early_final = event("Filled", "0.004", 1, Some(FollowState::Final));
            assert!(progress(&part) < progress(&early_final));
            // Fills compare as numbers, not as text.
            assert!(
                order_progress(Decimal::new(9, 0), 0, 0)
                    < order_progress(Decimal::new(10, 0), 0, 0)
            );
            assert!(
                order_progress(Decimal::new(1, 13), 0, 0) == order_progress(Decimal::ZERO, 0, 0)
            );
            assert_eq!(order_progress(Decimal::MAX, 2, i64::MAX).len(), 45);
            assert!(
                order_progress(Decimal::NEGATIVE_ONE, 0, -5) <= order_progress(Decimal::ZERO, 0, 0)
            );
            let sql = order_upsert(&full).unwrap().sql;
            assert!(sql
                .contains("WHERE orders.progress IS NULL OR excluded.progress >= orders.progress"));
        }

        #[test]
        fn outcomes_write_signal_and_order_updates_only_the_order() {
            let mut e = event("Acknowledged", "0", 10, None);
            e.fee = Some(Fee {
                amount: Decimal::new(35, 3),
                asset: "USDT".into(),
            });
            let w = event_writes(&e);
            assert_eq!(w.len(), 2);
            assert!(w[0].sql.starts_with("INSERT INTO signals"));
            let o = &w[1].params;
            assert_eq!(o[2], Param::Text("live".into()));
            assert_eq!(o[12], Param::Text("0.035".into()));
            assert_eq!(o[13], Param::Text("USDT".into()));
            assert_eq!(o[14], Param::Text("following".into()));
            assert_eq!(o[17], Param::Text("bybit".into()));
            assert_eq!(o[18], Param::Text("testnet".into()));
            let u = event("Filled", "0.01", 20, Some(FollowState::Final));
            let w = event_writes(&u);
            assert_eq!(
                w.len(),
                1,
                "an update leaves the signal as the store ended it"
            );
            assert_eq!(w[0].params[14], Param::Text("final".into()));
            // A version-1 event (no venue): the old columns, nothing followed.
            let mut old = event("New", "0", 5, None);
            old.venue = None;
            let w = order_upsert(&old).unwrap();
            assert_eq!(w.params[14], Param::Null);
            assert_eq!(
                (w.params[17].clone(), w.params[18].clone()),
                (Param::Null, Param::Null)
            );
        }
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
