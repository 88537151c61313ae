//! The statements the report-worker reads a period with: the signal funnel (outcomes of the
//! signals received in the window, dead letters recorded in it), the dead letters still pending,
//! and the equity snapshots of the window's days. The fills and positions come from
//! [`crate::pnl::fills_query`] and [`crate::reconcile::positions_query`]; what is computed from
//! them lives in the pure `report` crate.

use crate::query::{Param, Query};

/// Signals received in `[from_ms, to_ms)` by outcome (`filled`, `rejected`, `blocked`), as
/// [`crate::ledger::Count`] rows.
pub fn signal_outcomes_query(from_ms: i64, to_ms: i64) -> Query {
    Query::new(
        "SELECT outcome AS name, COUNT(*) AS n FROM signals \
         WHERE received_at_ms >= ?1 AND received_at_ms < ?2 GROUP BY outcome",
        vec![Param::Int(from_ms), Param::Int(to_ms)],
    )
}

/// Signals (by idempotency key, else message id) dead-lettered in `[from_ms, to_ms)`, as one
/// [`crate::ledger::Count`] row named `dead_lettered`.
pub fn dead_lettered_query(from_ms: i64, to_ms: i64) -> Query {
    Query::new(
        "SELECT 'dead_lettered' AS name, COUNT(DISTINCT COALESCE(idempotency_key, message_id)) AS n \
         FROM dead_letters WHERE created_at_ms >= ?1 AND created_at_ms < ?2",
        vec![Param::Int(from_ms), Param::Int(to_ms)],
    )
}

/// Dead letters still pending now, as one [`crate::ledger::Count`] row named `pending`.
pub fn pending_dead_letters_query() -> Query {
    Query::new(
        "SELECT 'pending' AS name, COUNT(*) AS n FROM dead_letters WHERE status = 'pending'",
        vec![],
    )
}

/// Every equity snapshot of the UTC days `from_day..=to_day` (`YYYY-MM-DD`), as
/// [`crate::reconcile::EquityRow`]s, oldest first per exchange and network.
pub fn equity_range_query(from_day: &str, to_day: &str) -> Query {
    Query::new(
        "SELECT exchange, network, day, asset, wallet_balance, unrealised_pnl, equity, source, \
         at_ms FROM equity_snapshots WHERE day >= ?1 AND day <= ?2 \
         ORDER BY exchange, network, day",
        vec![from_day.into(), to_day.into()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sqlite::migrated as db;

    fn rows(db: &rusqlite::Connection, q: &Query, cols: usize) -> Vec<Vec<String>> {
        let mut st = db.prepare(&q.sql).unwrap();
        st.query_map(rusqlite::params_from_iter(crate::sqlite::params(q)), |r| {
            (0..cols)
                .map(|i| {
                    r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                        rusqlite::types::Value::Text(t) => t,
                        rusqlite::types::Value::Integer(i) => i.to_string(),
                        other => format!("{other:?}"),
                    })
                })
                .collect()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    /// The statements run on SQLite over the real migrations and count only the window.
    #[test]
    fn the_window_queries_count_only_the_window() {
        let db = db();
        for (key, outcome, at) in [
            ("a", "filled", 10),
            ("b", "rejected", 20),
            ("c", "filled", 30),
        ] {
            db.execute(
                "INSERT INTO signals (idempotency_key, request_id, exchange, symbol, action, order_type, \
                 quantity, received_at_ms, outcome, attempts, updated_at_ms) \
                 VALUES (?1, 'r', 'bybit', 'BTCUSDT', 'LONG', 'market', '1', ?2, ?3, 1, ?2)",
                rusqlite::params![key, at, outcome],
            )
            .unwrap();
        }
        for (id, key, status, at) in [
            ("m1", "d", "pending", 15),
            ("m2", "d", "pending", 16),
            ("m3", "e", "resolved", 40),
        ] {
            db.execute(
                "INSERT INTO dead_letters (message_id, queue, idempotency_key, reason, attempts, status, created_at_ms) \
                 VALUES (?1, 'trade-execution', ?2, 'x', 1, ?3, ?4)",
                rusqlite::params![id, key, status, at],
            )
            .unwrap();
        }
        let mut outcomes = rows(&db, &signal_outcomes_query(10, 30), 2);
        outcomes.sort();
        assert_eq!(outcomes, [["filled", "1"], ["rejected", "1"]]);
        assert_eq!(
            rows(&db, &dead_lettered_query(0, 30), 2),
            [["dead_lettered", "1"]]
        );
        assert_eq!(
            rows(&db, &pending_dead_letters_query(), 2),
            [["pending", "2"]]
        );
        for day in ["2026-01-01", "2026-01-02", "2026-01-03"] {
            db.execute(
                "INSERT INTO equity_snapshots (exchange, network, day, asset, wallet_balance, equity, source, at_ms) \
                 VALUES ('bybit', 'mainnet', ?1, 'USDT', '100', '100', 'exchange', 1)",
                [day],
            )
            .unwrap();
        }
        let days: Vec<String> = rows(&db, &equity_range_query("2026-01-02", "2026-01-03"), 3)
            .into_iter()
            .map(|r| r[2].clone())
            .collect();
        assert_eq!(days, ["2026-01-02", "2026-01-03"]);
    }
}
