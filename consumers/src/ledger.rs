//! The fan-out of `trade-events`: every outcome goes to the D1 ledger, to the R2 event log and to
//! Telegram, per message batch.
//!
//! 1. D1: upserts into `signals` and `orders` (keyed by idempotency key and client order id), in
//!    one batch for the whole message batch. A follow-up's update writes the order only, and
//!    never overwrites a more advanced state (`ops::ledger::order_upsert`).
//! 2. R2 `SYSTEM_LOGS_BUCKET`: one JSON object per event at `events/YYYY/MM/DD/<key>.json`
//!    (`ops::logs`); a redelivery overwrites its own object. Events hold no secret.
//! 3. Telegram: one alert message for the filled / rejected / blocked events of the batch, and
//!    for the order updates worth telling (a fill, the final state, an order left open),
//!    through `TELEGRAM_SERVICE`.
//! 4. After the batch is acked, when it carried fills: the positions of their exchanges and
//!    networks are read again (`crate::account`), best effort (the cron reads them every
//!    minute anyway).
//!
//! Each step is idempotent or harmless to repeat, so a failure retries the events with a growing
//! delay (`fanout_delay_seconds`) and the next delivery redoes the steps; after `max_retries` the
//! events go to `trade-events-dlq`. None of this touches execution: the trades these events
//! describe have ended in the IdempotencyStore, and a retried event can never place an order.

use alerts::format::{Alert, AlertRequest, AlertResponse, TradeAlert};
use contracts::event::TradeEvent;
use contracts::signal::Exchange;
use runtime::queue::Delivery;
use worker::{D1PreparedStatement, Env, HttpMetadata};

pub const DB_BINDING: &str = "DB";
pub const LOGS_BUCKET: &str = "SYSTEM_LOGS_BUCKET";

/// Delay before a failed fan-out is tried again: 5 s doubling per attempt, capped at 10 min, so
/// the platform's ten retries ride out about half an hour of a D1, R2 or Telegram outage.
pub fn fanout_delay_seconds(attempts: u32) -> u32 {
    5u32.saturating_mul(1 << attempts.saturating_sub(1).min(8))
        .min(600)
}

/// An event's writes (its signal for an outcome, its order), from `ops::ledger`: the order's
/// upsert applies only if the event is at least as advanced as the row, so a redelivered
/// outcome or a lagging update never takes a fill back.
fn statements(db: &worker::D1Database, e: &TradeEvent) -> worker::Result<Vec<D1PreparedStatement>> {
    ops::ledger::event_writes(e)
        .iter()
        .map(|q| runtime::d1::prepare(db, q))
        .collect()
}

/// The exchanges and networks whose positions the batch's fills changed.
fn filled_pairs(events: &[TradeEvent]) -> Vec<(Exchange, bool)> {
    let mut pairs: Vec<(Exchange, bool)> = events
        .iter()
        .filter(|e| {
            e.order
                .as_ref()
                .is_some_and(|o| o.filled_quantity > rust_decimal::Decimal::ZERO)
        })
        .filter_map(|e| e.venue.map(|v| (v, e.testnet)))
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
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
            runtime::meter::count(runtime::meter::Op::R2ClassA, 1, LOGS_BUCKET);
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
            .filter(|e| TradeAlert::worth_telling(e))
            .map(|e| Alert::Trade(TradeAlert::from_event(e)))
            .collect(),
    };
    if request.alerts.is_empty() {
        return Ok(AlertResponse {
            skipped: Some("no event worth an alert".into()),
            ..AlertResponse::default()
        });
    }
    let request_id = events
        .first()
        .map(|e| e.request_id.clone())
        .unwrap_or_else(runtime::random_id);
    runtime::alert::send(env, &request, &request_id)
        .await
        .map_err(|e| (e.to_string(), e.retry_after()))
}

/// Written after the alert and not retried with it: a lost note must not send the message twice.
async fn record_alerts(db: &worker::D1Database, events: &[TradeEvent], r: &AlertResponse) {
    let at = runtime::now_ms();
    let notes: Vec<ops::query::Query> = events
        .iter()
        .map(|e| ops::ledger::alerted_query(&e.idempotency_key, at, &r.note_for(e)))
        .collect();
    if let Err(e) = runtime::d1::batch(db, &notes).await {
        tracing::warn!(error = %e, events = events.len(), "alert outcome not recorded in the ledger");
    }
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
    if let Err(e) = db.batch(batch).await.map(|r| runtime::meter::d1_batch(&r)) {
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
            record_alerts(&db, &events, &r).await;
            let pairs = filled_pairs(&events);
            if !pairs.is_empty() {
                let cfg = runtime::config::load(env).await.unwrap_or_else(|_| {
                    std::rc::Rc::new(contracts::config::RuntimeConfig::defaults())
                });
                if let Err(e) =
                    crate::account::refresh(env, &cfg, crate::account::Scope::Pairs(pairs)).await
                {
                    tracing::error!(error = %e, "positions not refreshed after fills");
                }
            }
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
