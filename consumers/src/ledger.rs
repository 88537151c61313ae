//! Fan-out of `trade-events` into the D1 ledger: one D1 batch per message batch.
//!
//! Writes are upserts keyed by idempotency key and client order id, so a redelivered event
//! changes nothing. A D1 failure retries these events only; the trades they describe are never
//! touched again. Events that cannot be decoded are left to the platform's retries and end in
//! `trade-events-dlq`, where the dlq worker records them.

use contracts::event::TradeEvent;
use runtime::queue::Delivery;
use wasm_bindgen::JsValue;
use worker::{D1PreparedStatement, Env};

pub const DB_BINDING: &str = "DB";
const RETRY_SECONDS: u32 = 5;

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

pub async fn run(deliveries: Vec<Delivery>, env: &Env) {
    let db = match env.d1(DB_BINDING) {
        Ok(db) => db,
        Err(e) => {
            tracing::error!(error = %e, "D1 binding missing; retrying events");
            deliveries.iter().for_each(|d| d.retry(RETRY_SECONDS));
            return;
        }
    };
    let mut batch = Vec::new();
    let mut written = Vec::new();
    for d in deliveries {
        match TradeEvent::decode(&d.body)
            .map_err(|e| e.to_string())
            .and_then(|e| statements(&db, &e).map_err(|err| err.to_string()))
        {
            Ok(stmts) => {
                batch.extend(stmts);
                written.push(d);
            }
            Err(e) => {
                tracing::error!(message_id = %d.id, error = %e, "event not writable; retrying until dead-lettered");
                d.retry(RETRY_SECONDS);
            }
        }
    }
    if batch.is_empty() {
        return;
    }
    match db.batch(batch).await {
        Ok(_) => {
            tracing::info!(events = written.len(), "ledger written");
            written.iter().for_each(Delivery::ack);
        }
        Err(e) => {
            tracing::error!(error = %e, events = written.len(), "ledger write failed; retrying events");
            written.iter().for_each(|d| d.retry(RETRY_SECONDS));
        }
    }
}
