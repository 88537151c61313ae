//! The agent-worker's records in D1 (migration `0007`): per-position rule state, the exits its
//! protections count, each network's equity peak and re-based start of day, and its runs.
//!
//! Statements only, as everywhere in this crate: the agent decides (`risk::evaluate`), these
//! rows remember. State rows are keyed by the position's identity *and* opening time, so a
//! later position on the same pair and side never reads an earlier one's watermark.

use crate::query::{Param, Query};
use serde::{Deserialize, Serialize};

/// How many runs `risk_runs` keeps.
pub const RUNS_KEPT: i64 = 200;

/// One open position's state, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRow {
    pub exchange: String,
    pub network: String,
    pub symbol: String,
    pub side: String,
    pub opened_at_ms: i64,
    /// JSON of `risk::PositionState`.
    pub state: String,
    /// JSON of the exchange-side stop last placed; `None`: none placed.
    pub stops: Option<String>,
    pub updated_at_ms: i64,
}

pub fn states_query() -> Query {
    Query::new(
        "SELECT exchange, network, symbol, side, opened_at_ms, state, stops, updated_at_ms \
         FROM risk_positions ORDER BY exchange, network, symbol, side, opened_at_ms",
        vec![],
    )
}

pub fn state_upsert(row: &StateRow) -> Query {
    Query::new(
        "INSERT INTO risk_positions (exchange, network, symbol, side, opened_at_ms, state, \
         stops, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (exchange, network, symbol, side, opened_at_ms) DO UPDATE SET \
         state = excluded.state, stops = excluded.stops, updated_at_ms = excluded.updated_at_ms",
        vec![
            row.exchange.clone().into(),
            row.network.clone().into(),
            row.symbol.clone().into(),
            row.side.clone().into(),
            Param::Int(row.opened_at_ms),
            row.state.clone().into(),
            row.stops.clone().into(),
            Param::Int(row.updated_at_ms),
        ],
    )
}

/// Clears a position's state (it closed, or a newer position replaced it).
pub fn state_delete(row: &StateRow) -> Query {
    Query::new(
        "DELETE FROM risk_positions WHERE exchange = ?1 AND network = ?2 AND symbol = ?3 \
         AND side = ?4 AND opened_at_ms = ?5",
        vec![
            row.exchange.clone().into(),
            row.network.clone().into(),
            row.symbol.clone().into(),
            row.side.clone().into(),
            Param::Int(row.opened_at_ms),
        ],
    )
}

/// An exit, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRow {
    pub key: String,
    /// The position's identity (`exchange:network:symbol:side:opened_at_ms`).
    pub position: String,
    pub at_ms: i64,
    pub exchange: String,
    pub network: String,
    pub symbol: String,
    pub side: String,
    /// 1 when a stop closed it (StoplossGuard counts these).
    pub stop_out: i64,
    pub reason: String,
}

/// Records the agent's own close of a position once (its key is the close's idempotency key).
pub fn exit_insert(row: &ExitRow) -> Query {
    exit_statement(row, "")
}

/// Records that a position closed some other way, unless an exit of it is already recorded.
pub fn exit_gone_insert(row: &ExitRow) -> Query {
    exit_statement(
        row,
        " WHERE NOT EXISTS (SELECT 1 FROM risk_exits WHERE position = ?2)",
    )
}

fn exit_statement(row: &ExitRow, condition: &str) -> Query {
    Query::new(
        format!(
            "INSERT INTO risk_exits (key, position, at_ms, exchange, network, symbol, side, \
             stop_out, reason) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9{condition} \
             ON CONFLICT (key) DO NOTHING"
        ),
        vec![
            row.key.clone().into(),
            row.position.clone().into(),
            Param::Int(row.at_ms),
            row.exchange.clone().into(),
            row.network.clone().into(),
            row.symbol.clone().into(),
            row.side.clone().into(),
            Param::Int(row.stop_out),
            row.reason.clone().into(),
        ],
    )
}

/// Exits at or after `since_ms`, oldest first.
pub fn exits_since_query(since_ms: i64) -> Query {
    Query::new(
        "SELECT key, position, at_ms, exchange, network, symbol, side, stop_out, reason \
         FROM risk_exits WHERE at_ms >= ?1 ORDER BY at_ms, key",
        vec![Param::Int(since_ms)],
    )
}

/// A dead letter of one of the agent's closes (its key starts with `risk:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadClose {
    pub idempotency_key: String,
    pub reason: String,
    /// 1 when the order may have reached the exchange.
    pub in_doubt: i64,
    pub status: String,
}

/// Every dead letter of an agent's close: a close that failed after it was accepted is sent
/// again under a new key (`risk::plan::retry_key`), unless it may have been placed.
pub fn dead_closes_query() -> Query {
    Query::new(
        "SELECT idempotency_key, reason, in_doubt, status FROM dead_letters \
         WHERE idempotency_key LIKE 'risk:%' ORDER BY id",
        vec![],
    )
}

/// A network's equity memory, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquityState {
    pub network: String,
    pub peak: Option<String>,
    pub peak_at_ms: Option<i64>,
    /// The UTC day `base` applies to.
    pub base_day: Option<String>,
    /// Start-of-day equity an operator's resume re-based (replaces the day's snapshot).
    pub base: Option<String>,
    pub updated_at_ms: i64,
}

pub fn equity_states_query() -> Query {
    Query::new(
        "SELECT network, peak, peak_at_ms, base_day, base, updated_at_ms FROM risk_equity \
         ORDER BY network",
        vec![],
    )
}

pub fn equity_state_upsert(row: &EquityState) -> Query {
    Query::new(
        "INSERT INTO risk_equity (network, peak, peak_at_ms, base_day, base, updated_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (network) DO UPDATE SET \
         peak = excluded.peak, peak_at_ms = excluded.peak_at_ms, base_day = excluded.base_day, \
         base = excluded.base, updated_at_ms = excluded.updated_at_ms",
        vec![
            row.network.clone().into(),
            row.peak.clone().into(),
            row.peak_at_ms.into(),
            row.base_day.clone().into(),
            row.base.clone().into(),
            Param::Int(row.updated_at_ms),
        ],
    )
}

/// Every exchange's equity snapshot of one UTC day (the first reading of that day), as
/// [`EquityRow`](crate::reconcile::EquityRow)s.
pub fn day_equity_query(day: &str) -> Query {
    Query::new(
        "SELECT exchange, network, day, asset, wallet_balance, unrealised_pnl, equity, source, \
         at_ms FROM equity_snapshots WHERE day = ?1 ORDER BY exchange, network",
        vec![day.into()],
    )
}

/// One evaluation, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRow {
    pub run_id: String,
    pub at_ms: i64,
    /// `cron` or `operator`.
    pub trigger: String,
    /// JSON of the run's summary.
    pub summary: String,
}

/// Records a run and drops all but the latest [`RUNS_KEPT`].
pub fn run_insert(row: &RunRow) -> Vec<Query> {
    vec![
        Query::new(
            "INSERT INTO risk_runs (run_id, at_ms, trigger, summary) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (run_id) DO NOTHING",
            vec![
                row.run_id.clone().into(),
                Param::Int(row.at_ms),
                row.trigger.clone().into(),
                row.summary.clone().into(),
            ],
        ),
        Query::new(
            "DELETE FROM risk_runs WHERE run_id NOT IN (SELECT run_id FROM risk_runs \
             ORDER BY at_ms DESC, run_id DESC LIMIT ?1)",
            vec![Param::Int(RUNS_KEPT)],
        ),
    ]
}

/// The latest `limit` runs, newest first.
pub fn runs_query(limit: i64) -> Query {
    Query::new(
        "SELECT run_id, at_ms, trigger, summary FROM risk_runs ORDER BY at_ms DESC, run_id DESC \
         LIMIT ?1",
        vec![Param::Int(limit)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sqlite::{execute as run, migrated as db};

    fn count(db: &rusqlite::Connection, sql: &str) -> i64 {
        db.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    fn exit(key: &str, position: &str, stop_out: i64) -> ExitRow {
        ExitRow {
            key: key.into(),
            position: position.into(),
            at_ms: 10,
            exchange: "bybit".into(),
            network: "mainnet".into(),
            symbol: "BTCUSDT".into(),
            side: "long".into(),
            stop_out,
            reason: "sl".into(),
        }
    }

    #[test]
    fn an_exit_is_recorded_once_and_a_gone_position_only_without_one() {
        let db = db();
        let p = "bybit:mainnet:BTCUSDT:long:1";
        run(&db, &exit_insert(&exit(&format!("risk:sl:{p}"), p, 1)));
        run(&db, &exit_insert(&exit(&format!("risk:sl:{p}"), p, 1)));
        run(&db, &exit_gone_insert(&exit(&format!("gone:{p}"), p, 0)));
        assert_eq!(count(&db, "SELECT COUNT(*) FROM risk_exits"), 1);
        let q = "bybit:mainnet:BTCUSDT:long:2";
        run(&db, &exit_gone_insert(&exit(&format!("gone:{q}"), q, 0)));
        run(&db, &exit_gone_insert(&exit(&format!("gone:{q}"), q, 0)));
        assert_eq!(count(&db, "SELECT COUNT(*) FROM risk_exits"), 2);
        assert_eq!(
            count(&db, "SELECT SUM(stop_out) FROM risk_exits"),
            1,
            "only the agent's stop counts as a stop-out"
        );
    }

    #[test]
    fn state_rows_are_per_opening_time_and_deleted_alone() {
        let db = db();
        let row = |opened: i64, state: &str| StateRow {
            exchange: "bybit".into(),
            network: "mainnet".into(),
            symbol: "BTCUSDT".into(),
            side: "long".into(),
            opened_at_ms: opened,
            state: state.into(),
            stops: None,
            updated_at_ms: 5,
        };
        run(&db, &state_upsert(&row(1, "{\"a\":1}")));
        run(&db, &state_upsert(&row(1, "{\"a\":2}")));
        run(&db, &state_upsert(&row(2, "{}")));
        assert_eq!(count(&db, "SELECT COUNT(*) FROM risk_positions"), 2);
        let s: String = db
            .query_row(
                "SELECT state FROM risk_positions WHERE opened_at_ms = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(s, "{\"a\":2}");
        run(&db, &state_delete(&row(1, "")));
        assert_eq!(count(&db, "SELECT COUNT(*) FROM risk_positions"), 1);
    }

    #[test]
    fn runs_keep_the_latest() {
        let db = db();
        for i in 0..(RUNS_KEPT + 5) {
            for q in run_insert(&RunRow {
                run_id: format!("r{i:04}"),
                at_ms: i,
                trigger: "cron".into(),
                summary: "{}".into(),
            }) {
                run(&db, &q);
            }
        }
        assert_eq!(count(&db, "SELECT COUNT(*) FROM risk_runs"), RUNS_KEPT);
        assert_eq!(count(&db, "SELECT MIN(at_ms) FROM risk_runs"), 5);
        run(
            &db,
            &equity_state_upsert(&EquityState {
                network: "mainnet".into(),
                peak: Some("100".into()),
                peak_at_ms: Some(1),
                base_day: None,
                base: None,
                updated_at_ms: 1,
            }),
        );
        assert_eq!(count(&db, "SELECT COUNT(*) FROM risk_equity"), 1);
    }
}
