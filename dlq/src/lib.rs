//! `dlq`: the consumer of `trade-execution-dlq` and `trade-events-dlq`. Every dead letter is
//! recorded in D1 (`dead_letters`) with its job, reason, attempts and last error, and its key is
//! marked dead in the IdempotencyStore, so an operator can find it and replay it with the same
//! idempotency key.

use base64::Engine as _;
use contracts::event::TradeEvent;
use contracts::idempotency::KeyUpdate;
use contracts::job::{DeadLetterReason, DlqBody, TradeJob};
use runtime::idempotency::Store;
use runtime::queue::Delivery;
use wasm_bindgen::prelude::*;
use worker::worker_sys::{Context as ContextSys, MessageBatch};
use worker::{D1PreparedStatement, Env};

pub const EXECUTION_DLQ: &str = "trade-execution-dlq";
pub const EVENTS_DLQ: &str = "trade-events-dlq";
const RETRY_SECONDS: u32 = 10;

/// One dead letter as the ledger stores it.
struct Record {
    key: Option<String>,
    reason: String,
    detail: String,
    attempts: u32,
    job: Option<TradeJob>,
    raw: Vec<u8>,
}

fn record_of(queue: &str, d: &Delivery) -> Record {
    if queue == EVENTS_DLQ {
        return match TradeEvent::decode(&d.body) {
            Ok(e) => Record {
                key: Some(e.idempotency_key.clone()),
                reason: "event_undelivered".into(),
                detail: format!(
                    "trade event ({}) could not be written to the ledger",
                    e.outcome.as_str()
                ),
                attempts: d.attempts,
                job: None,
                raw: d.body.clone(),
            },
            Err(e) => Record {
                key: None,
                reason: DeadLetterReason::Undecodable.as_str().into(),
                detail: format!("trade event: {e}"),
                attempts: d.attempts,
                job: None,
                raw: d.body.clone(),
            },
        };
    }
    match DlqBody::decode(&d.body) {
        DlqBody::Letter(l) => Record {
            key: l.job.as_ref().map(|j| j.idempotency_key.clone()),
            reason: l.reason.as_str().into(),
            detail: l.detail,
            attempts: l.attempts,
            job: l.job,
            raw: l.raw,
        },
        DlqBody::Exhausted(job) => Record {
            key: Some(job.idempotency_key.clone()),
            reason: DeadLetterReason::MaxRetries.as_str().into(),
            detail: "every retry failed".into(),
            attempts: d.attempts,
            job: Some(job),
            raw: vec![],
        },
        DlqBody::Unreadable { error, raw } => Record {
            key: None,
            reason: error.reason().as_str().into(),
            detail: error.to_string(),
            attempts: d.attempts,
            job: None,
            raw,
        },
    }
}

fn opt(v: Option<String>) -> JsValue {
    v.map(JsValue::from).unwrap_or(JsValue::NULL)
}

fn insert(
    db: &worker::D1Database,
    queue: &str,
    d: &Delivery,
    r: &Record,
    last_error: Option<String>,
) -> worker::Result<D1PreparedStatement> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let s = r.job.as_ref().map(|j| &j.signal);
    db.prepare(
        "INSERT OR IGNORE INTO dead_letters (message_id, queue, idempotency_key, reason, detail, attempts,
            last_error, exchange, symbol, action, job, raw, status, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'pending', ?13)",
    )
    .bind(&[
        d.id.as_str().into(),
        queue.into(),
        opt(r.key.clone()),
        r.reason.as_str().into(),
        r.detail.as_str().into(),
        JsValue::from(f64::from(r.attempts)),
        opt(last_error),
        opt(s.map(|s| s.exchange.as_str().to_owned())),
        opt(s.map(|s| s.symbol.canonical())),
        opt(s.map(|s| s.action.as_str().to_owned())),
        opt(r.job.as_ref().map(|j| b64(&j.encode()))),
        opt((!r.raw.is_empty()).then(|| b64(&r.raw))),
        JsValue::from(runtime::now_ms() as f64),
    ])
}

#[wasm_bindgen]
pub async fn queue(batch: MessageBatch, env: Env, _ctx: ContextSys) -> Result<JsValue, JsValue> {
    runtime::logging::init();
    let (queue, deliveries) = runtime::queue::deliveries(&batch);
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => {
            tracing::error!(error = %e, "D1 binding missing; retrying dead letters");
            deliveries.iter().for_each(|d| d.retry(RETRY_SECONDS));
            return Ok(JsValue::UNDEFINED);
        }
    };
    let store = Store::new(&env);
    for d in &deliveries {
        let r = record_of(&queue, d);
        // Mark the key dead (execution DLQ only) and learn its last error for the operator.
        let mut last_error = None;
        if let (EXECUTION_DLQ, Some(key)) = (queue.as_str(), &r.key) {
            match store
                .update(&KeyUpdate::MarkDead {
                    key: key.clone(),
                    reason: r.reason.clone(),
                })
                .await
            {
                Ok(status) => last_error = status.and_then(|s| s.last_error),
                Err(e) => {
                    tracing::error!(error = %e, idempotency_key = %key, "store unavailable; retrying dead letter");
                    d.retry(RETRY_SECONDS);
                    continue;
                }
            }
        }
        let written = match insert(&db, &queue, d, &r, last_error) {
            Ok(stmt) => stmt.run().await.map(drop),
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => {
                tracing::warn!(queue = %queue, reason = %r.reason, idempotency_key = ?r.key, attempts = r.attempts, "dead letter recorded");
                d.ack();
            }
            Err(e) => {
                tracing::error!(error = %e, "dead letter not recorded; retrying");
                d.retry(RETRY_SECONDS);
            }
        }
    }
    Ok(JsValue::UNDEFINED)
}
