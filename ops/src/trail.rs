//! A signal's whole path, as the dashboard's detail view shows it, and the live feed of what
//! changed: read from the ledger only (the signal row the fan-out wrote, its orders, its dead
//! letters and the audit entries about them), ordered by time, each step saying which part of
//! the pipeline recorded it. Nothing here is inferred that a record does not hold: a signal the
//! ledger has not recorded yet says so rather than guessing its state.

use crate::audit::AuditEntry;
use crate::dead_letters::DeadLetterSummary;
use crate::ledger::{SignalRow, TradeRow};
use serde::{Deserialize, Serialize};

/// A dead letter with when its alert went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailDeadLetter {
    #[serde(flatten)]
    pub summary: DeadLetterSummary,
    pub alerted_at_ms: Option<i64>,
}

/// Everything the ledger holds about one idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalTrail {
    pub key: String,
    pub signal: Option<SignalRow>,
    pub orders: Vec<TradeRow>,
    pub dead_letters: Vec<TrailDeadLetter>,
    pub audit: Vec<AuditEntry>,
}

/// How a step reads: fine, a warning, a failure, or neutral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Neutral,
    Good,
    Warn,
    Bad,
}

/// One step of the path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub at_ms: i64,
    /// `received`, `recorded`, `executed`, `exchange`, `outcome`, `dead_letter`, `alert`,
    /// `operator`.
    pub stage: &'static str,
    pub text: String,
    pub tone: Tone,
}

fn outcome_tone(outcome: &str) -> Tone {
    // Venues spell statuses their own way (`Filled`, `FILLED`).
    match outcome.to_ascii_lowercase().as_str() {
        "filled" | "placed" | "accepted" => Tone::Good,
        "rejected" | "failed" | "dead" => Tone::Bad,
        _ => Tone::Warn,
    }
}

impl SignalTrail {
    /// The steps in time order (a stable sort: steps recorded at one instant keep the
    /// pipeline's order).
    pub fn steps(&self) -> Vec<Step> {
        let mut out = Vec::new();
        let step = |at_ms, stage, text: String, tone| Step {
            at_ms,
            stage,
            text,
            tone,
        };
        if let Some(s) = &self.signal {
            out.push(step(
                s.received_at_ms,
                "received",
                format!(
                    "Received: {} {} {} on {}{} (request {})",
                    s.action,
                    s.quantity,
                    s.symbol,
                    s.exchange,
                    if s.test != 0 { " testnet" } else { "" },
                    s.request_id
                ),
                Tone::Neutral,
            ));
            out.push(step(
                s.received_at_ms,
                "recorded",
                format!(
                    "Recorded in the idempotency store under {} and queued for execution",
                    self.key
                ),
                Tone::Neutral,
            ));
            out.push(step(
                s.updated_at_ms,
                "executed",
                format!(
                    "Claimed and executed in {} attempt{}",
                    s.attempts,
                    if s.attempts == 1 { "" } else { "s" }
                ),
                Tone::Neutral,
            ));
        }
        for o in &self.orders {
            let avg = o
                .average_price
                .as_deref()
                .map(|p| format!(" at {p}"))
                .unwrap_or_default();
            out.push(step(
                o.created_at_ms,
                "exchange",
                format!(
                    "{} answered: order {} ({}) {} {} {}, filled {}{avg}",
                    o.venue,
                    o.exchange_order_id,
                    o.client_order_id,
                    o.status,
                    o.side,
                    o.quantity,
                    o.filled_quantity
                ),
                outcome_tone(&o.status),
            ));
        }
        if let Some(s) = &self.signal {
            out.push(step(
                s.updated_at_ms,
                "outcome",
                match &s.detail {
                    Some(d) if !d.is_empty() => format!("Outcome: {} — {d}", s.outcome),
                    _ => format!("Outcome: {}", s.outcome),
                },
                outcome_tone(&s.outcome),
            ));
            if let (Some(at), Some(note)) = (s.alerted_at_ms, &s.alert) {
                out.push(step(
                    at,
                    "alert",
                    format!("Telegram alert {note}"),
                    if note.starts_with("sent") {
                        Tone::Good
                    } else {
                        Tone::Neutral
                    },
                ));
            }
        }
        for d in &self.dead_letters {
            let dl = &d.summary;
            out.push(step(
                dl.created_at_ms,
                "dead_letter",
                format!(
                    "Dead letter #{} ({}): {}{} after {} attempts{}",
                    dl.id,
                    dl.queue,
                    dl.reason,
                    dl.detail
                        .as_deref()
                        .map(|x| format!(" — {x}"))
                        .unwrap_or_default(),
                    dl.attempts,
                    if dl.in_doubt {
                        "; an order may exist at the exchange"
                    } else {
                        ""
                    }
                ),
                Tone::Bad,
            ));
            if let Some(at) = d.alerted_at_ms {
                out.push(step(
                    at,
                    "alert",
                    format!("Telegram alert sent for dead letter #{}", dl.id),
                    Tone::Neutral,
                ));
            }
        }
        for a in &self.audit {
            out.push(step(
                a.at_ms,
                "operator",
                format!("{} by {} on {}: {}", a.action, a.actor, a.target, a.detail),
                Tone::Neutral,
            ));
        }
        out.sort_by_key(|s| s.at_ms);
        out
    }
}

/// What changed since the feed's last cursor.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Feed {
    pub signals: Vec<SignalRow>,
    pub dead_letters: Vec<TrailDeadLetter>,
    pub audit: Vec<AuditEntry>,
    /// The cursor of the next poll.
    pub next: FeedCursor,
}

/// Where a feed poll starts: signal changes and dead letters by time, audit entries by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FeedCursor {
    pub signals_ms: i64,
    pub dead_letters_ms: i64,
    pub audit_id: i64,
}

impl FeedCursor {
    /// `s.d.a`, as a query parameter carries it; junk reads as `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.split('.').map(|p| p.parse::<i64>().ok());
        match (it.next()??, it.next()??, it.next()??, it.next()) {
            (s, d, a, None) if s >= 0 && d >= 0 && a >= 0 => Some(Self {
                signals_ms: s,
                dead_letters_ms: d,
                audit_id: a,
            }),
            _ => None,
        }
    }

    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}",
            self.signals_ms, self.dead_letters_ms, self.audit_id
        )
    }
}

/// Rows a poll returns per kind at most.
pub const FEED_LIMIT: u32 = 50;

impl Feed {
    /// The poll's rows and the cursor past them (unchanged where nothing came).
    pub fn new(
        from: FeedCursor,
        signals: Vec<SignalRow>,
        dead_letters: Vec<TrailDeadLetter>,
        audit: Vec<AuditEntry>,
    ) -> Self {
        let next = FeedCursor {
            signals_ms: signals
                .iter()
                .map(|s| s.updated_at_ms)
                .max()
                .unwrap_or(from.signals_ms),
            dead_letters_ms: dead_letters
                .iter()
                .map(|d| d.summary.created_at_ms)
                .max()
                .unwrap_or(from.dead_letters_ms),
            audit_id: audit.iter().map(|a| a.id).max().unwrap_or(from.audit_id),
        };
        Self {
            signals,
            dead_letters,
            audit,
            next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite;

    fn signal(key: &str, received: i64, updated: i64, outcome: &str) -> SignalRow {
        SignalRow {
            idempotency_key: key.into(),
            request_id: "req-1".into(),
            exchange: "bybit".into(),
            symbol: "BTCUSDT".into(),
            action: "LONG".into(),
            order_type: "market".into(),
            quantity: "0.01".into(),
            price: None,
            leverage: None,
            test: 0,
            received_at_ms: received,
            outcome: outcome.into(),
            detail: None,
            attempts: 2,
            updated_at_ms: updated,
            alerted_at_ms: None,
            alert: None,
        }
    }

    #[test]
    fn the_steps_follow_the_pipeline_in_time_order() {
        let mut alerted = signal("k1", 1_000, 3_000, "filled");
        alerted.alerted_at_ms = Some(3_100);
        alerted.alert = Some("sent to 1 chat".into());
        let trail = SignalTrail {
            key: "k1".into(),
            signal: Some(alerted),
            orders: vec![TradeRow {
                client_order_id: "hx-1".into(),
                idempotency_key: "k1".into(),
                exchange: Some("bybit".into()),
                venue: "bybit".into(),
                exchange_order_id: "ex-9".into(),
                symbol: "BTCUSDT".into(),
                side: "buy".into(),
                action: Some("LONG".into()),
                quantity: "0.01".into(),
                price: None,
                status: "filled".into(),
                filled_quantity: "0.01".into(),
                average_price: Some("50000".into()),
                created_at_ms: 2_500,
            }],
            dead_letters: vec![],
            audit: vec![],
        };
        let steps = trail.steps();
        let stages: Vec<&str> = steps.iter().map(|s| s.stage).collect();
        assert_eq!(
            stages,
            ["received", "recorded", "exchange", "executed", "outcome", "alert"]
        );
        assert_eq!(
            (steps[5].text.as_str(), steps[5].tone),
            ("Telegram alert sent to 1 chat", Tone::Good)
        );
        assert!(steps[2].text.contains("ex-9") && steps[2].text.contains("at 50000"));
        assert_eq!(steps[4].tone, Tone::Good);
        assert!(steps[3].text.contains("2 attempts"));
    }

    #[test]
    fn a_signal_not_recorded_yet_has_only_what_the_ledger_holds() {
        let trail = SignalTrail {
            key: "k2".into(),
            signal: None,
            orders: vec![],
            dead_letters: vec![],
            audit: vec![],
        };
        assert!(trail.steps().is_empty());
    }

    #[test]
    fn the_feed_cursor_reads_back_and_refuses_junk() {
        let c = FeedCursor {
            signals_ms: 5,
            dead_letters_ms: 6,
            audit_id: 7,
        };
        assert_eq!(FeedCursor::parse(&c.encode()), Some(c));
        for junk in ["", "1.2", "1.2.3.4", "a.b.c", "-1.0.0"] {
            assert_eq!(FeedCursor::parse(junk), None, "{junk}");
        }
        let f = Feed::new(c, vec![signal("k", 1, 90, "filled")], vec![], vec![]);
        assert_eq!((f.next.signals_ms, f.next.audit_id), (90, 7));
    }

    #[test]
    fn the_trail_and_feed_statements_run_on_the_real_schema() {
        let db = sqlite::migrated();
        let raw = |sql: &str| sqlite::execute(&db, &crate::query::Query::new(sql, vec![]));
        raw(
            "INSERT INTO signals (idempotency_key, request_id, exchange, symbol, action, order_type, \
             quantity, received_at_ms, outcome, attempts, updated_at_ms) VALUES \
             ('k1','r','bybit','BTCUSDT','LONG','market','0.01',1000,'filled',1,2000)",
        );
        raw(
            "INSERT INTO dead_letters (message_id, queue, idempotency_key, reason, attempts, status, \
             created_at_ms, alerted_at_ms) VALUES ('m1','trade-execution','k1','stale',1,'pending',1500,1600)",
        );
        let count = |q: crate::query::Query| {
            let mut st = db.prepare(&q.sql).unwrap();
            let rows = st
                .query_map(rusqlite::params_from_iter(sqlite::params(&q)), |_| Ok(()))
                .unwrap()
                .count();
            rows
        };
        sqlite::execute(
            &db,
            &crate::ledger::alerted_query("k1", 2100, "sent to 1 chat"),
        );
        let mut st = db.prepare(&crate::ledger::signal_query("k1").sql).unwrap();
        let alert: (Option<i64>, Option<String>) = st
            .query_row(["k1"], |r| Ok((r.get(15)?, r.get(16)?)))
            .unwrap();
        assert_eq!(alert, (Some(2100), Some("sent to 1 chat".into())));
        assert_eq!(count(crate::ledger::signal_query("k1")), 1);
        assert_eq!(count(crate::ledger::orders_of_query("k1")), 0);
        assert_eq!(count(crate::ledger::signals_since_query(1999, 50)), 1);
        assert_eq!(count(crate::ledger::signals_since_query(2000, 50)), 0);
        assert_eq!(count(crate::ledger::outcomes_since_query(0)), 1);
        assert_eq!(count(crate::dead_letters::by_key_query("k1")), 1);
        assert_eq!(count(crate::dead_letters::since_query(1499, 50)), 1);
        assert_eq!(
            count(crate::audit::about_query(&["dead_letter:1".into()])),
            0
        );
        assert_eq!(count(crate::audit::about_query(&[])), 0);
        assert_eq!(count(crate::audit::since_query(0, 50)), 0);
        for i in 1..=3 {
            raw(&format!(
                "INSERT INTO audit_log (at_ms, actor, action, target, detail) VALUES ({}, 'a', 'replay', 't', 'd')",
                1000 * i
            ));
        }
        // A first poll's audit rows are the newest, so its cursor is the newest id.
        let mut st = db.prepare(&crate::audit::recent_query(0, 2).sql).unwrap();
        let ids: Vec<i64> = st
            .query_map([0i64], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ids, [2, 3]);
        assert_eq!(
            count(crate::reconcile::equity_series_query("2026-01-01")),
            0
        );
    }
}
