//! The operator API (internal key; the gateway forwards `/admin/dlq/*` here with the prefix
//! removed):
//!
//! - `GET /` — list, filtered by `reason`, `exchange`, `symbol`, `status`, `queue`, `key`,
//!   `since`, `until` (epoch ms), paged by `limit` and `cursor`;
//! - `GET /<id>` — one dead letter with its decoded job and audit history;
//! - `POST /<id>/replay` (`{"dry_run": true}` optional) and `POST /replay` (`{"ids": [...]}` or
//!   `{"filter": {...}, "limit": n}`, plus `dry_run`) — replay one or many;
//! - `POST /<id>/discard` (`{"reason": "..."}`) — close one with a reason.
//!
//! Every replay and discard is written to `audit_log` in the same D1 batch that ends the row, and
//! only when it did end it. The actor is the one the internal key names (`X-Hoox-Actor` within
//! the operators' namespace, `ops::audit::internal_key_actor`).
//!
//! A replay (dry run included) first asks the ledger whether that very signal filled (its client
//! order id in `orders`, or its `filled` outcome in `signals`) and skips it if so
//! (`already_filled`): the store may have forgotten the key, and a forgotten key must never run
//! as a new signal. A discard tells the store first (`ops::dead_letters::discard_updates`: the
//! key is marked dead as of the row's time, then resolved so it may expire), then ends the row.

use contracts::idempotency::KeyUpdate;
use futures::stream::{self, StreamExt as _};
use ops::audit::{self, Action, NewAudit};
use ops::dead_letters::{
    self as dl, DeadLetterFilter, DeadLetterRow, DeadLetterSummary, DiscardRequest, LedgerFill,
    Plan, ReplayItem, ReplayRequest, ReplayResponse, ReplayResult, RequestError, Selection,
};
use ops::query::FilterError;
use runtime::http::{json, require_internal, HttpError};
use runtime::idempotency::Store;
use runtime::{bytes, d1};
use worker::{D1Database, Env, Method, Request, Response, Result};

/// Producer binding of `trade-execution`, for replays.
pub const TRADE_QUEUE: &str = "TRADE_QUEUE";
/// Replays carried out at once within one request.
const REPLAY_CONCURRENCY: usize = 8;

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("invalid body: {0}")]
    Body(String),
    #[error("no such dead letter")]
    NotFound,
    #[error("dead letter #{0} is {1}, not pending")]
    NotPending(i64, String),
    #[error("the ledger is unavailable")]
    Db(#[from] worker::Error),
    #[error("the idempotency store is unavailable: {0}")]
    Store(String),
}

impl From<&ApiError> for HttpError {
    fn from(e: &ApiError) -> Self {
        let msg = e.to_string();
        match e {
            ApiError::Filter(f) | ApiError::Request(RequestError::Filter(f)) => {
                HttpError::new(400, "invalid_field", msg).field(f.field())
            }
            ApiError::Request(_) | ApiError::Body(_) => HttpError::new(400, "invalid_body", msg),
            ApiError::NotFound => HttpError::not_found(msg),
            ApiError::NotPending(..) => HttpError::new(409, "not_pending", msg),
            ApiError::Store(s) => {
                tracing::error!(error = %s, "idempotency store failed");
                HttpError::unavailable(
                    "the idempotency store is unavailable; nothing changed, retry",
                )
            }
            ApiError::Db(d) => {
                tracing::error!(error = %d, "D1 failed");
                HttpError::unavailable("the ledger is unavailable; retry")
            }
        }
    }
}

impl ApiError {
    fn respond(&self, request_id: &str) -> Result<Response> {
        HttpError::from(self).respond(request_id)
    }
}

type Answer = std::result::Result<serde_json::Value, ApiError>;

fn to_json<T: serde::Serialize>(v: &T) -> Answer {
    serde_json::to_value(v).map_err(|e| ApiError::Body(e.to_string()))
}

fn parse_body<T: serde::de::DeserializeOwned + Default>(
    text: &str,
) -> std::result::Result<T, ApiError> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(text).map_err(|e| ApiError::Body(e.to_string()))
}

fn parse_id(s: &str) -> std::result::Result<i64, ApiError> {
    s.parse().map_err(|_| {
        ApiError::Filter(FilterError::Invalid {
            field: "id",
            message: "not a dead letter id".into(),
        })
    })
}

pub async fn handle(mut req: Request, env: Env, request_id: String) -> Result<Response> {
    let path = req.path();
    let path = path.trim_end_matches('/');
    let actor = match require_internal(&req, &env) {
        Ok(operator) => operator.actor,
        Err(e) => return e.respond(&request_id),
    };
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => return ApiError::Db(e).respond(&request_id),
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method();
    let result = match (method, segments.as_slice()) {
        (Method::Get, []) => {
            let pairs: Vec<(String, String)> = req
                .url()?
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            list(&db, &pairs).await
        }
        (Method::Get, [id]) => show(&db, id).await,
        (Method::Post, ["replay"]) => {
            let body: ReplayRequest = match parse_body(&req.text().await?) {
                Ok(b) => b,
                Err(e) => return e.respond(&request_id),
            };
            replay(&db, &env, body, &actor, &request_id).await
        }
        (Method::Post, [id, "replay"]) => {
            #[derive(serde::Deserialize, Default)]
            #[serde(deny_unknown_fields)]
            struct One {
                #[serde(default)]
                dry_run: bool,
            }
            let one: std::result::Result<One, ApiError> = parse_body(&req.text().await?);
            match (one, parse_id(id)) {
                (Ok(one), Ok(id)) => {
                    let body = ReplayRequest {
                        ids: vec![id],
                        dry_run: one.dry_run,
                        ..Default::default()
                    };
                    replay(&db, &env, body, &actor, &request_id).await
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        }
        (Method::Post, [id, "discard"]) => {
            let body: std::result::Result<DiscardRequest, ApiError> =
                serde_json::from_str(&req.text().await?).map_err(|e| ApiError::Body(e.to_string()));
            match body {
                Ok(b) => discard(&db, &env, id, b, &actor, &request_id).await,
                Err(e) => Err(e),
            }
        }
        _ => return HttpError::not_found("no such route").respond(&request_id),
    };
    match result {
        Ok(v) => json(200, &v),
        Err(e) => e.respond(&request_id),
    }
}

async fn list(db: &D1Database, pairs: &[(String, String)]) -> Answer {
    let (f, paging) =
        DeadLetterFilter::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    to_json(&d1::dead_letter_list(db, &f, &paging).await?)
}

async fn show(db: &D1Database, id: &str) -> Answer {
    let detail = d1::dead_letter_detail(db, parse_id(id)?).await?;
    to_json(&detail.ok_or(ApiError::NotFound)?)
}

async fn replay(
    db: &D1Database,
    env: &Env,
    body: ReplayRequest,
    actor: &str,
    request_id: &str,
) -> Answer {
    let selection = body.selection()?;
    let (rows, missing): (Vec<DeadLetterRow>, Vec<i64>) = match &selection {
        Selection::Ids(ids) => {
            let rows: Vec<DeadLetterRow> = d1::all(db, &dl::get_many_query(ids)).await?;
            let missing = ids
                .iter()
                .copied()
                .filter(|id| !rows.iter().any(|r| r.summary.id == *id))
                .collect();
            (rows, missing)
        }
        Selection::Matching(f, limit) => {
            (d1::all(db, &dl::matching_query(f, *limit)).await?, vec![])
        }
    };
    let dry_run = body.dry_run;
    let mut items: Vec<ReplayItem> = stream::iter(rows)
        .map(|row| async move {
            let result = match dl::plan(&row) {
                Plan::Skip(reason) => ReplayResult::Skipped { reason },
                Plan::Replay {
                    key,
                    received_at_ms,
                    job,
                } => match ledger_fill(db, &key, received_at_ms).await {
                    Err(e) => ReplayResult::Failed {
                        error: format!("ledger check: {e}; still pending, replay again"),
                    },
                    Ok(fill) => match (dl::ledger_verdict(fill.as_ref()), dry_run) {
                        (Some(reason), dry_run) => {
                            if let (Some(f), false) = (&fill, dry_run) {
                                end_filled(db, &row.summary, &key, f, actor, request_id).await;
                            }
                            ReplayResult::Skipped { reason }
                        }
                        (None, true) => ReplayResult::WouldReplay,
                        (None, false) => {
                            replay_one(
                                db,
                                env,
                                &row.summary,
                                (&key, received_at_ms),
                                &job,
                                actor,
                                request_id,
                            )
                            .await
                        }
                    },
                },
            };
            ReplayItem::of(&row.summary, result)
        })
        .buffer_unordered(REPLAY_CONCURRENCY)
        .collect()
        .await;
    items.extend(missing.into_iter().map(ReplayItem::not_found));
    items.sort_by_key(|i| i.id);
    let response = ReplayResponse::new(dry_run, items);
    tracing::info!(dry_run, actor, counts = ?response.counts, "replay");
    to_json(&response)
}

/// The ledger's record that this signal (key and first intake time) filled, if any.
async fn ledger_fill(
    db: &D1Database,
    key: &str,
    received_at_ms: i64,
) -> worker::Result<Option<LedgerFill>> {
    d1::first(db, &dl::ledger_fill_query(key, received_at_ms)).await
}

/// A replay found the signal in the ledger: nothing is sent, and the row ends (audited as this
/// replay), so no pending dead letter is left for a signal that executed. A failed write leaves
/// it pending; a later replay finds the same fill.
async fn end_filled(
    db: &D1Database,
    row: &DeadLetterSummary,
    key: &str,
    fill: &LedgerFill,
    actor: &str,
    request_id: &str,
) {
    tracing::info!(id = row.id, idempotency_key = key, source = %fill.source, reference = %fill.reference, status = %fill.status, "replay skipped: the ledger shows the signal filled");
    let now = runtime::now_ms();
    let note = dl::already_filled_note(fill);
    let entry = NewAudit::new(
        actor,
        Action::Replay,
        audit::dead_letter_target(row.id),
        &serde_json::json!({"idempotency_key": key, "result": "already_filled", "ledger": fill, "reason": row.reason}),
        request_id,
    );
    let batch = [
        dl::mark_ended(row.id, actor, &note, now),
        entry.insert_if_changed(now),
    ];
    if let Err(e) = d1::batch(db, &batch).await {
        tracing::error!(id = row.id, error = %e, "replay skipped (already filled), but the dead letter was not ended");
    }
}

/// Reopens the key, re-enqueues the job, then ends the row and audits it in one D1 batch.
async fn replay_one(
    db: &D1Database,
    env: &Env,
    row: &DeadLetterSummary,
    (key, received_at_ms): (&str, i64),
    job: &[u8],
    actor: &str,
    request_id: &str,
) -> ReplayResult {
    let failed = |error: String| {
        tracing::error!(id = row.id, idempotency_key = key, error = %error, "replay failed");
        ReplayResult::Failed { error }
    };
    // Only a dead key reopens; a key that had in fact ended stays ended, and the consumer acks
    // the replayed job without a second order. A key the store forgot comes back in doubt, so
    // the replay looks its order up before it may submit.
    let status = match Store::new(env)
        .update(&KeyUpdate::Reopen {
            key: key.to_owned(),
            // After this letter's row, so its redelivered MarkDead cannot undo the replay.
            recorded_at_ms: Some(row.created_at_ms),
            received_at_ms: Some(received_at_ms),
        })
        .await
    {
        Ok(s) => s,
        Err(e) => return failed(format!("idempotency store: {e}")),
    };
    let key_state = status
        .as_ref()
        .map_or("unknown", |s| s.state.as_str())
        .to_owned();
    let in_doubt = status.as_ref().is_some_and(|s| s.in_doubt);
    runtime::meter::count(runtime::meter::Op::QueueWrite, 1, "trade-execution");
    let sent = match env.queue(TRADE_QUEUE) {
        Ok(q) => q.send_raw(bytes::message(job)).await,
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        return failed(format!(
            "trade-execution send: {e}; still pending, replay again"
        ));
    }
    let now = runtime::now_ms();
    let note = if in_doubt {
        format!("replayed; key was {key_state}, in doubt (the order is looked up first)")
    } else {
        format!("replayed; key was {key_state}")
    };
    let entry = NewAudit::new(
        actor,
        Action::Replay,
        audit::dead_letter_target(row.id),
        &serde_json::json!({"idempotency_key": key, "key_state": key_state, "in_doubt": in_doubt, "reason": row.reason}),
        request_id,
    );
    if let Err(e) = d1::batch(
        db,
        &[
            dl::mark_replayed(row.id, actor, &note, now),
            entry.insert_if_changed(now),
        ],
    )
    .await
    {
        // The job is on its way; the store guards against a second order if it is replayed again.
        return failed(format!(
            "job re-enqueued, but the dead letter was not updated: {e}"
        ));
    }
    tracing::info!(id = row.id, idempotency_key = key, key_state = %key_state, in_doubt, actor, "dead letter replayed");
    ReplayResult::Replayed {
        key_state,
        in_doubt,
    }
}

async fn discard(
    db: &D1Database,
    env: &Env,
    id: &str,
    body: DiscardRequest,
    actor: &str,
    request_id: &str,
) -> Answer {
    let id = parse_id(id)?;
    let reason = body.reason()?;
    let row: DeadLetterRow = d1::first(db, &dl::get_query(id))
        .await?
        .ok_or(ApiError::NotFound)?;
    if row.summary.status != "pending" {
        return Err(ApiError::NotPending(id, row.summary.status));
    }
    // The store first: if it cannot be told, nothing changes and the operator retries.
    let store = Store::new(env);
    for update in dl::discard_updates(&row) {
        store
            .update(&update)
            .await
            .map_err(|e| ApiError::Store(e.to_string()))?;
    }
    let now = runtime::now_ms();
    let entry = NewAudit::new(
        actor,
        Action::Discard,
        audit::dead_letter_target(id),
        &serde_json::json!({"reason": reason, "idempotency_key": row.summary.idempotency_key}),
        request_id,
    );
    let changed = d1::batch(
        db,
        &[
            dl::mark_discarded(id, actor, reason, now),
            entry.insert_if_changed(now),
        ],
    )
    .await?;
    if changed.first().copied().unwrap_or(0) == 0 {
        return Err(ApiError::NotPending(id, "no longer pending".into()));
    }
    tracing::info!(id, actor, "dead letter discarded");
    let after: DeadLetterRow = d1::first(db, &dl::get_query(id))
        .await?
        .ok_or(ApiError::NotFound)?;
    to_json(&after.summary)
}
