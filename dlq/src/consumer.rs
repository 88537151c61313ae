//! Recording dead letters as they arrive, and alerting once for each.
//!
//! Per message: skip it if this queue message was already recorded (a redelivery must not mark
//! a key dead again: an operator may have reopened it for replay meanwhile), else mark the key
//! dead (execution DLQ) and insert the row. Then one Telegram alert covers every new dead letter
//! of the batch; `alerted_at_ms` makes it once. A Telegram outage retries the messages a few
//! times (their records are kept; only the alert is pending), then gives up on the alert only.

use crate::{EVENTS_DLQ, EXECUTION_DLQ};
use alerts::format::{Alert, AlertRequest, AlertResponse, DeadLetterAlert};
use base64::Engine as _;
use contracts::event::TradeEvent;
use contracts::idempotency::{KeyUpdate, IN_DOUBT_NOTE};
use contracts::job::{DeadLetterReason, DlqBody, TradeJob};
use ops::dead_letters::{self as dl, DeadLetterSummary};
use runtime::d1;
use runtime::idempotency::Store;
use runtime::queue::Delivery;
use wasm_bindgen::JsValue;
use worker::{D1PreparedStatement, Env, Method};

pub const TELEGRAM_SERVICE: &str = "TELEGRAM_SERVICE";
const RETRY_SECONDS: u32 = 10;
/// Delivery attempts spent waiting for Telegram before the alert is given up.
const ALERT_ATTEMPTS: u32 = 6;

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

#[derive(serde::Deserialize)]
struct IdRow {
    id: i64,
}

/// Records one delivery; `Err` means retry it.
async fn record(
    db: &worker::D1Database,
    store: &Store<'_>,
    queue: &str,
    d: &Delivery,
) -> Result<(), String> {
    let seen = d1::first::<IdRow>(db, &dl::recorded_query(&d.id))
        .await
        .map_err(|e| format!("D1: {e}"))?;
    if let Some(row) = seen {
        tracing::info!(message_id = %d.id, id = row.id, "dead letter already recorded (redelivery)");
        return Ok(());
    }
    let mut r = record_of(queue, d);
    // Mark the key dead (execution DLQ only) and learn its last error for the operator.
    let mut last_error = None;
    if let (EXECUTION_DLQ, Some(key)) = (queue, &r.key) {
        let status = store
            .update(&KeyUpdate::MarkDead {
                key: key.clone(),
                reason: r.reason.clone(),
            })
            .await
            .map_err(|e| e.to_string())?;
        if let Some(status) = status {
            if status.in_doubt {
                r.detail = format!("{}; {IN_DOUBT_NOTE}", r.detail);
                tracing::warn!(idempotency_key = %key, "dead letter in doubt: an order may exist at the exchange");
            }
            last_error = status.last_error;
        }
    }
    insert(db, queue, d, &r, last_error)
        .map_err(|e| e.to_string())?
        .run()
        .await
        .map_err(|e| format!("D1: {e}"))?;
    tracing::warn!(queue, reason = %r.reason, idempotency_key = ?r.key, attempts = r.attempts, "dead letter recorded");
    Ok(())
}

/// Alerts on every not-yet-alerted dead letter of these messages. `Err` carries the seconds to
/// wait before trying again.
async fn alert(db: &worker::D1Database, env: &Env, message_ids: &[String]) -> Result<(), u32> {
    let fresh: Vec<DeadLetterSummary> = match d1::all(db, &dl::unalerted_query(message_ids)).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "could not read dead letters to alert on");
            return Err(RETRY_SECONDS);
        }
    };
    if fresh.is_empty() {
        return Ok(());
    }
    let request = AlertRequest {
        alerts: fresh
            .iter()
            .map(|d| Alert::DeadLetter(DeadLetterAlert::from(d)))
            .collect(),
    };
    let request_id = runtime::random_id();
    let sent = runtime::service::call::<_, AlertResponse>(
        env,
        TELEGRAM_SERVICE,
        Method::Post,
        "/alert",
        Some(&request),
        &request_id,
        None,
    )
    .await;
    match sent {
        Ok(r) => {
            tracing::info!(dead_letters = fresh.len(), sent = r.sent, skipped = ?r.skipped, "dead letters alerted");
            let ids: Vec<i64> = fresh.iter().map(|d| d.id).collect();
            if let Err(e) = d1::run(db, &dl::mark_alerted(&ids, runtime::now_ms())).await {
                // The alert went out; a repeat on redelivery is the lesser harm.
                tracing::error!(error = %e, "alerted, but alerted_at_ms not recorded");
            }
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "dead-letter alert failed");
            Err(e.retry_after().unwrap_or(30).max(RETRY_SECONDS))
        }
    }
}

pub async fn run(queue: &str, deliveries: Vec<Delivery>, env: &Env) {
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => {
            tracing::error!(error = %e, "D1 binding missing; retrying dead letters");
            deliveries.iter().for_each(|d| d.retry(RETRY_SECONDS));
            return;
        }
    };
    if queue != EXECUTION_DLQ && queue != EVENTS_DLQ {
        tracing::error!(queue, "batch from an unexpected queue; retrying it");
        deliveries.iter().for_each(|d| d.retry(60));
        return;
    }
    let store = Store::new(env);
    let mut recorded = Vec::new();
    for d in deliveries {
        match record(&db, &store, queue, &d).await {
            Ok(()) => recorded.push(d),
            Err(e) => {
                tracing::error!(message_id = %d.id, error = %e, "dead letter not recorded; retrying");
                d.retry(RETRY_SECONDS);
            }
        }
    }
    if recorded.is_empty() {
        return;
    }
    let ids: Vec<String> = recorded.iter().map(|d| d.id.clone()).collect();
    match alert(&db, env, &ids).await {
        Ok(()) => recorded.iter().for_each(Delivery::ack),
        Err(wait) => {
            for d in &recorded {
                if d.attempts < ALERT_ATTEMPTS {
                    d.retry(wait);
                } else {
                    tracing::error!(message_id = %d.id, "giving up on the Telegram alert; the dead letter is recorded");
                    d.ack();
                }
            }
        }
    }
}
