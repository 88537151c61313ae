//! Tests only: the statements this crate builds, run on SQLite (D1's engine) over the real
//! migrations, so a test checks what D1 would do with them rather than their text.

use crate::query::{Param, Query};
use rusqlite::types::Value;

/// An in-memory database with every migration in `migrations/` applied, in order.
pub fn migrated() -> rusqlite::Connection {
    let db = rusqlite::Connection::open_in_memory().unwrap();
    let dir = format!("{}/../migrations", env!("CARGO_MANIFEST_DIR"));
    let mut migrations: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    migrations.sort();
    for m in migrations {
        db.execute_batch(&std::fs::read_to_string(&m).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", m.display()));
    }
    db
}

/// The query's binds as SQLite values.
pub fn params(q: &Query) -> Vec<Value> {
    q.params
        .iter()
        .map(|p| match p {
            Param::Text(t) => Value::Text(t.clone()),
            Param::Int(i) => Value::Integer(*i),
            Param::Null => Value::Null,
        })
        .collect()
}

/// Runs one statement.
pub fn execute(db: &rusqlite::Connection, q: &Query) {
    db.execute(&q.sql, rusqlite::params_from_iter(params(q)))
        .unwrap_or_else(|e| panic!("{}: {e}", q.sql));
}
