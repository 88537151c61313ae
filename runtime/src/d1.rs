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
    let result = prepare(db, q)?.all().await?;
    crate::meter::d1(&result);
    result.results()
}

/// The first row of a `SELECT`, if any.
pub async fn first<T: DeserializeOwned>(db: &D1Database, q: &Query) -> Result<Option<T>> {
    Ok(all(db, q).await?.into_iter().next())
}

/// Runs a write; returns how many rows it changed.
pub async fn run(db: &D1Database, q: &Query) -> Result<usize> {
    let r = prepare(db, q)?.run().await?;
    crate::meter::d1(&r);
    Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0))
}

/// Runs writes as one batch (one round trip, all or nothing); returns rows changed by each.
pub async fn batch(db: &D1Database, qs: &[Query]) -> Result<Vec<usize>> {
    let stmts = qs
        .iter()
        .map(|q| prepare(db, q))
        .collect::<Result<Vec<_>>>()?;
    let results = db.batch(stmts).await?;
    crate::meter::d1_batch(&results);
    Ok(results
        .iter()
        .map(|r| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0))
        .collect())
}

/// The dead letters a filter selects, one page with the total: read the same way by the
/// operator API (dlq) and the read API (d1-worker).
pub async fn dead_letter_list(
    db: &D1Database,
    filter: &ops::dead_letters::DeadLetterFilter,
    paging: &ops::query::Paging,
) -> Result<ops::dead_letters::DeadLetterList> {
    use ops::dead_letters as dl;
    let (list, count) = (dl::list_query(filter, paging), dl::count_query(filter));
    let (rows, total) = futures::join!(all(db, &list), first::<ops::ledger::Count>(db, &count));
    Ok(dl::DeadLetterList {
        page: ops::query::Page::from_rows(rows?, paging.limit(), dl::cursor_of),
        total: total?.map_or(0, |c| c.n),
    })
}

/// One dead letter with its audit history, if it exists.
pub async fn dead_letter_detail(
    db: &D1Database,
    id: i64,
) -> Result<Option<ops::dead_letters::DeadLetterDetail>> {
    use ops::{audit, dead_letters as dl};
    let Some(row) = first::<dl::DeadLetterRow>(db, &dl::get_query(id)).await? else {
        return Ok(None);
    };
    let history = all(db, &audit::history_query(&audit::dead_letter_target(id))).await?;
    Ok(Some(dl::DeadLetterDetail::new(row, history)))
}
