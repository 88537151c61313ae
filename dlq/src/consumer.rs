//! Recording dead letters as they arrive, and alerting once for each.
//!
//! Per message (see `ops::recording` for why in this order): read the key's state in the store
//! (execution DLQ only), insert the row with the status and in-doubt fact that state implies
//! (`ended` for a key that had already ended, pending and in doubt for a key the store has no
//! record of), and only then mark the key dead naming the row's time, settling the row with the
//! store's answer. A redelivery whose row exists re-sends the mark (while the row is pending; the
//! store ignores it if an operator reopened the key since). Any failure (D1, the store) retries
//! the message with a backoff from 10 s doubling to 1 h, and `dlq/wrangler.jsonc` gives the
//! consumers enough retries to span days; whatever the platform still drops, the sweep
//! ([`crate::sweep`]) finds in the store. Then one Telegram alert covers every new dead letter of
//! the batch; `alerted_at_ms` makes it once. A Telegram outage retries the messages a few times
//! (their records are kept; only the alert is pending), then gives up on the alert only.

use crate::{EVENTS_DLQ, EXECUTION_DLQ};
use alerts::format::{Alert, AlertRequest, DeadLetterAlert};
use base64::Engine as _;
use contracts::event::TradeEvent;
use contracts::idempotency::KeyUpdate;
use contracts::job::{DeadLetterReason, DlqBody};
use ops::dead_letters::{self as dl, DeadLetterSummary};
use ops::recording::{self as rec, NewDeadLetter, RecordedRow, Recording};
use runtime::d1;
use runtime::idempotency::Store;
use runtime::queue::Delivery;
use worker::Env;

const RETRY_SECONDS: u32 = 10;
/// Delivery attempts spent waiting for Telegram before the alert is given up.
const ALERT_ATTEMPTS: u32 = 6;
/// The longest wait between two tries of a dead letter that could not be recorded.
pub const MAX_RETRY_SECONDS: u32 = 3_600;

/// The wait before delivery `attempts + 1` of a dead letter that could not be recorded (D1 or
/// the store unavailable): 10 s doubling to 1 h. With the consumers' `max_retries` (100) that
/// rides out about four days of trouble.
pub fn retry_delay_seconds(attempts: u32) -> u32 {
    RETRY_SECONDS
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
        .min(MAX_RETRY_SECONDS)
}

/// One dead letter as it arrived, before the store was asked about its key.
fn letter_of(queue: &str, d: &Delivery, now_ms: i64) -> NewDeadLetter {
    let b64 =
        |b: &[u8]| (!b.is_empty()).then(|| base64::engine::general_purpose::STANDARD.encode(b));
    let base = |key, reason: &str, detail: String, attempts, job, raw: &[u8]| NewDeadLetter {
        message_id: d.id.clone(),
        queue: queue.to_owned(),
        idempotency_key: key,
        reason: reason.to_owned(),
        detail,
        attempts,
        last_error: None,
        job,
        raw: b64(raw),
        recording: Recording::keyless(),
        created_at_ms: now_ms,
    };
    if queue == EVENTS_DLQ {
        return match TradeEvent::decode(&d.body) {
            Ok(e) => base(
                Some(e.idempotency_key.clone()),
                "event_undelivered",
                format!(
                    "trade event ({}) could not be written to the ledger",
                    e.outcome.as_str()
                ),
                d.attempts,
                None,
                &d.body,
            ),
            Err(e) => base(
                None,
                DeadLetterReason::Undecodable.as_str(),
                format!("trade event: {e}"),
                d.attempts,
                None,
                &d.body,
            ),
        };
    }
    match DlqBody::decode(&d.body) {
        DlqBody::Letter(l) => base(
            l.job.as_ref().map(|j| j.idempotency_key.clone()),
            l.reason.as_str(),
            l.detail,
            l.attempts,
            l.job,
            &l.raw,
        ),
        DlqBody::Exhausted(job) => base(
            Some(job.idempotency_key.clone()),
            DeadLetterReason::MaxRetries.as_str(),
            "every retry failed".into(),
            d.attempts,
            Some(job),
            &[],
        ),
        DlqBody::Unreadable { error, raw } => base(
            None,
            error.reason().as_str(),
            error.to_string(),
            d.attempts,
            None,
            &raw,
        ),
    }
}

/// Records one delivery; `Err` means retry it.
async fn record(
    db: &worker::D1Database,
    store: &Store<'_>,
    queue: &str,
    d: &Delivery,
) -> Result<(), String> {
    let d1_err = |e: worker::Error| format!("D1: {e}");
    let mut letter = letter_of(queue, d, runtime::now_ms());
    // Only execution dead letters belong to a key the store guards; a trade event's key ended.
    let key = letter
        .idempotency_key
        .clone()
        .filter(|_| queue == EXECUTION_DLQ);
    let seen: Option<RecordedRow> = d1::first(db, &dl::recorded_query(&d.id))
        .await
        .map_err(d1_err)?;
    let row = match seen {
        Some(row) => {
            tracing::info!(message_id = %d.id, id = row.id, status = %row.status, "dead letter already recorded (redelivery)");
            row
        }
        None => {
            // The key's state first: it decides the row's status and in-doubt fact.
            if let Some(key) = &key {
                let status = store
                    .update(&KeyUpdate::Status { key: key.clone() })
                    .await
                    .map_err(|e| e.to_string())?;
                letter.last_error = status.as_ref().and_then(|s| s.last_error.clone());
                letter.recording = Recording::of(status.as_ref());
            }
            let inserted: Option<RecordedRow> =
                d1::first(db, &letter.insert()).await.map_err(d1_err)?;
            let row = match inserted {
                Some(row) => row,
                // A concurrent delivery of the same message inserted it first.
                None => d1::first(db, &dl::recorded_query(&d.id))
                    .await
                    .map_err(d1_err)?
                    .ok_or("the dead letter was neither inserted nor found")?,
            };
            if letter.recording.in_doubt {
                tracing::warn!(idempotency_key = ?letter.idempotency_key, "dead letter in doubt: an order may exist at the exchange");
            }
            tracing::warn!(queue, reason = %letter.reason, status = %row.status, idempotency_key = ?letter.idempotency_key, attempts = letter.attempts, "dead letter recorded");
            row
        }
    };
    // Mark the key dead only now that the row exists, naming the row's time; not once an
    // operator acted on the row (or it was recorded ended).
    if let (Some(key), true) = (key, row.is_pending()) {
        let answer = store
            .update(&KeyUpdate::MarkDead {
                key,
                reason: letter.reason.clone(),
                recorded_at_ms: row.created_at_ms,
                received_at_ms: letter.job.as_ref().map(|j| j.received_at_ms),
            })
            .await
            .map_err(|e| e.to_string())?;
        if let Some(q) = rec::settle(&row, answer.as_ref(), runtime::now_ms()) {
            d1::run(db, &q).await.map_err(d1_err)?;
        }
    }
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
    alert_rows(db, env, &fresh).await
}

/// Sends one alert for `fresh` (not yet alerted) and records that it went out.
pub(crate) async fn alert_rows(
    db: &worker::D1Database,
    env: &Env,
    fresh: &[DeadLetterSummary],
) -> Result<(), u32> {
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
    let sent = runtime::alert::send(env, &request, &request_id).await;
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
            deliveries
                .iter()
                .for_each(|d| d.retry(retry_delay_seconds(d.attempts)));
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
                let delay = retry_delay_seconds(d.attempts);
                tracing::error!(message_id = %d.id, attempts = d.attempts, delay, error = %e, "dead letter not recorded; retrying");
                d.retry(delay);
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
