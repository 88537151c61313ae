//! Running `ops` statements on D1: binds each [`ops::query::Param`] to its JS value and reads
//! rows into typed structs. Statements come only from `ops`, so no caller text becomes SQL.

use ops::query::{Param, Query};
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Result};

fn js(p: &Param) -> JsValue {
    match p {
        Param::Text(s) => JsValue::from(s.as_str()),
        // Epoch milliseconds and ids fit an f64 exactly (below 2^53).
        Param::Int(i) => JsValue::from(*i as f64),
        Param::Null => JsValue::NULL,
    }
}

/// The statement, prepared and bound.
pub fn prepare(db: &D1Database, q: &Query) -> Result<D1PreparedStatement> {
    let params: Vec<JsValue> = q.params.iter().map(js).collect();
    db.prepare(q.sql.as_str()).bind(&params)
}

/// Every row of a `SELECT`.
pub async fn all<T: DeserializeOwned>(db: &D1Database, q: &Query) -> Result<Vec<T>> {
    prepare(db, q)?.all().await?.results()
}

/// The first row of a `SELECT`, if any.
pub async fn first<T: DeserializeOwned>(db: &D1Database, q: &Query) -> Result<Option<T>> {
    Ok(all(db, q).await?.into_iter().next())
}

/// Runs a write; returns how many rows it changed.
pub async fn run(db: &D1Database, q: &Query) -> Result<usize> {
    let r = prepare(db, q)?.run().await?;
    Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0))
}

/// Runs writes as one batch (one round trip, all or nothing); returns rows changed by each.
pub async fn batch(db: &D1Database, qs: &[Query]) -> Result<Vec<usize>> {
    let stmts = qs
        .iter()
        .map(|q| prepare(db, q))
        .collect::<Result<Vec<_>>>()?;
    let results = db.batch(stmts).await?;
    Ok(results
        .iter()
        .map(|r| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0))
        .collect())
}
