//! The fan-out of `trade-events`: every outcome goes to the D1 ledger, to the R2 event log and to
//! Telegram, per message batch.
//!
//! 1. D1: upserts into `signals` and `orders` (keyed by idempotency key and client order id), in
//!    one batch for the whole message batch.
//! 2. R2 `SYSTEM_LOGS_BUCKET`: one JSON object per event at `events/YYYY/MM/DD/<key>.json`
//!    (`ops::logs`); a redelivery overwrites its own object. Events hold no secret.
//! 3. Telegram: one alert message for the filled / rejected / blocked events of the batch,
//!    through `TELEGRAM_SERVICE`.
//!
//! Each step is idempotent or harmless to repeat, so a failure retries the events with a growing
//! delay (`fanout_delay_seconds`) and the next delivery redoes the steps; after `max_retries` the
//! events go to `trade-events-dlq`. None of this touches execution: the trades these events
//! describe have ended in the IdempotencyStore, and a retried event can never place an order.

use alerts::format::{Alert, AlertRequest, AlertResponse, TradeAlert};
use contracts::event::TradeEvent;
use runtime::queue::Delivery;
use wasm_bindgen::JsValue;
use worker::{D1PreparedStatement, Env, HttpMetadata, Method};

pub const DB_BINDING: &str = "DB";
pub const LOGS_BUCKET: &str = "SYSTEM_LOGS_BUCKET";
pub const TELEGRAM_SERVICE: &str = "TELEGRAM_SERVICE";

/// Delay before a failed fan-out is tried again: 5 s doubling per attempt, capped at 10 min, so
/// the platform's ten retries ride out about half an hour of a D1, R2 or Telegram outage.
pub fn fanout_delay_seconds(attempts: u32) -> u32 {
    5u32.saturating_mul(1 << attempts.saturating_sub(1).min(8))
        .min(600)
}

fn opt_text(v: Option<String>) -> JsValue {
    v.map(JsValue::from).unwrap_or(JsValue::NULL)
}

fn statements(db: &worker::D1Database, e: &TradeEvent) -> worker::Result<Vec<D1PreparedStatement>> {
    let s = &e.signal;
    let mut out = vec![db
        .prepare(
            "INSERT INTO signals (idempotency_key, request_id, exchange, symbol, action, order_type,
                quantity, price, leverage, test, received_at_ms, outcome, detail, attempts, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
             ON CONFLICT (idempotency_key) DO UPDATE SET outcome = excluded.outcome,
                detail = excluded.detail, attempts = excluded.attempts, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&[
            e.idempotency_key.as_str().into(),
            e.request_id.as_str().into(),
            s.exchange.as_str().into(),
            s.symbol.canonical().into(),
            s.action.as_str().into(),
            s.order_type.as_str().into(),
            s.quantity.to_string().into(),
            opt_text(s.price.map(|p| p.to_string())),
            s.leverage.map(|l| JsValue::from(f64::from(l))).unwrap_or(JsValue::NULL),
            JsValue::from(f64::from(u8::from(s.test))),
            JsValue::from(e.received_at_ms as f64),
            e.outcome.as_str().into(),
            opt_text(e.detail.clone()),
            JsValue::from(f64::from(e.attempts)),
            JsValue::from(e.at_ms as f64),
        ])?];
    if let Some(o) = &e.order {
        out.push(
            db.prepare(
                "INSERT INTO orders (client_order_id, idempotency_key, exchange, exchange_order_id, symbol,
                    side, quantity, price, status, filled_quantity, average_price, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (client_order_id) DO UPDATE SET status = excluded.status,
                    filled_quantity = excluded.filled_quantity, average_price = excluded.average_price",
            )
            .bind(&[
                o.client_order_id.as_str().into(),
                e.idempotency_key.as_str().into(),
                venue_of(o).into(),
                o.exchange_order_id.as_str().into(),
                s.symbol.canonical().into(),
                (if s.action.is_buy() { "Buy" } else { "Sell" }).into(),
                s.quantity.to_string().into(),
                opt_text(s.price.map(|p| p.to_string())),
                o.status.as_str().into(),
                o.filled_quantity.to_string().into(),
                opt_text(o.average_price.map(|p| p.to_string())),
                JsValue::from(e.at_ms as f64),
            ])?,
        );
    }
    Ok(out)
}

/// The venue that executed the order (paper orders carry a `paper-` exchange id).
fn venue_of(o: &contracts::event::OrderAck) -> &'static str {
    if o.exchange_order_id.starts_with("paper-") {
        "paper"
    } else {
        "live"
    }
}

/// Retries every delivery with the fan-out delay of its attempt.
fn retry_all(deliveries: &[Delivery]) {
    for d in deliveries {
        d.retry(fanout_delay_seconds(d.attempts));
    }
}

/// Writes each event's log object; `Err` names the first failure.
async fn log_events(env: &Env, events: &[TradeEvent]) -> Result<(), String> {
    let bucket = env.bucket(LOGS_BUCKET).map_err(|e| e.to_string())?;
    let puts = events.iter().map(|e| {
        let bucket = &bucket;
        async move {
            bucket
                .put(ops::logs::event_key(e), ops::logs::event_body(e))
                .http_metadata(HttpMetadata {
                    content_type: Some("application/json".into()),
                    ..Default::default()
                })
                .execute()
                .await
                .map(drop)
                .map_err(|err| format!("{}: {err}", e.idempotency_key))
        }
    });
    futures::future::join_all(puts)
        .await
        .into_iter()
        .collect::<Result<Vec<()>, String>>()
        .map(drop)
}

/// Sends one alert message for the events. `Err` carries the seconds Telegram asked to wait, if
/// it said.
async fn alert(env: &Env, events: &[TradeEvent]) -> Result<AlertResponse, (String, Option<u32>)> {
    let request = AlertRequest {
        alerts: events
            .iter()
            .map(|e| Alert::Trade(TradeAlert::from_event(e)))
            .collect(),
    };
    let request_id = events
        .first()
        .map(|e| e.request_id.clone())
        .unwrap_or_else(runtime::random_id);
    runtime::service::call(
        env,
        TELEGRAM_SERVICE,
        Method::Post,
        "/alert",
        Some(&request),
        &request_id,
        None,
    )
    .await
    .map_err(|e| (e.to_string(), e.retry_after()))
}

pub async fn run(deliveries: Vec<Delivery>, env: &Env) {
    let db = match env.d1(DB_BINDING) {
        Ok(db) => db,
        Err(e) => {
            tracing::error!(error = %e, "D1 binding missing; retrying events");
            retry_all(&deliveries);
            return;
        }
    };
    let mut batch = Vec::new();
    let mut written = Vec::new();
    let mut events = Vec::new();
    for d in deliveries {
        match TradeEvent::decode(&d.body)
            .map_err(|e| e.to_string())
            .and_then(|e| {
                statements(&db, &e)
                    .map(|s| (e, s))
                    .map_err(|err| err.to_string())
            }) {
            Ok((event, stmts)) => {
                batch.extend(stmts);
                events.push(event);
                written.push(d);
            }
            Err(e) => {
                tracing::error!(message_id = %d.id, error = %e, "event not writable; retrying until dead-lettered");
                d.retry(fanout_delay_seconds(d.attempts));
            }
        }
    }
    if batch.is_empty() {
        return;
    }
    if let Err(e) = db.batch(batch).await {
        tracing::error!(error = %e, events = written.len(), "ledger write failed; retrying events");
        retry_all(&written);
        return;
    }
    tracing::info!(events = written.len(), "ledger written");
    if let Err(e) = log_events(env, &events).await {
        tracing::error!(error = %e, events = written.len(), "event log write failed; retrying events");
        retry_all(&written);
        return;
    }
    match alert(env, &events).await {
        Ok(r) => {
            tracing::info!(events = events.len(), sent = r.sent, skipped = ?r.skipped, "events alerted");
            written.iter().for_each(Delivery::ack);
        }
        Err((e, retry_after)) => {
            tracing::warn!(error = %e, events = written.len(), "alert failed; retrying the fan-out only");
            for d in &written {
                d.retry(fanout_delay_seconds(d.attempts).max(retry_after.unwrap_or(0)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fanout_delay_seconds;

    #[test]
    fn fan_out_retries_back_off_to_a_cap() {
        let delays: Vec<u32> = (1..=10).map(fanout_delay_seconds).collect();
        assert_eq!(delays, vec![5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
        assert_eq!(fanout_delay_seconds(0), 5);
        assert_eq!(fanout_delay_seconds(u32::MAX), 600);
    }
}
