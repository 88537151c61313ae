//! Queue deliveries, read from the raw JS batch.
//!
//! workers-rs 0.8.7 does not expose a message's `attempts`, and its `#[event(queue)]` wrapper
//! panics when a handler returns `Err`. Consumers therefore export `queue` themselves through
//! [`deliveries`], and settle every message individually: nothing here returns an error for one
//! bad message.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use worker::worker_sys::{Message, MessageBatch};

pub struct Delivery {
    inner: Message,
    /// The queue it came from, for the meter.
    queue: std::rc::Rc<str>,
    pub id: String,
    /// Delivery attempt of this message, starting at 1.
    pub attempts: u32,
    pub body: Vec<u8>,
}

impl Delivery {
    pub fn ack(&self) {
        match self.inner.ack() {
            Ok(()) => crate::meter::count(crate::meter::Op::QueueDelete, 1, &self.queue),
            Err(e) => tracing::error!(message_id = %self.id, error = ?e, "ack failed"),
        }
    }

    /// Redelivers after `delay_seconds` (the platform caps it at 12 h).
    pub fn retry(&self, delay_seconds: u32) {
        let opts = Object::new();
        let _ = Reflect::set(
            &opts,
            &"delaySeconds".into(),
            &JsValue::from(delay_seconds.min(43_200)),
        );
        if let Err(e) = self.inner.retry(opts.into()) {
            tracing::error!(message_id = %self.id, error = ?e, "retry failed");
        }
    }
}

/// The queue name and every message of a batch.
pub fn deliveries(batch: &MessageBatch) -> (String, Vec<Delivery>) {
    let queue = batch.queue().map(String::from).unwrap_or_default();
    let messages = batch.messages().unwrap_or_else(|_| Array::new());
    let name: std::rc::Rc<str> = queue.as_str().into();
    let out: Vec<Delivery> = messages
        .iter()
        .map(|m| {
            let attempts = Reflect::get(&m, &"attempts".into())
                .ok()
                .and_then(|a| a.as_f64())
                .map(|a| a as u32)
                .unwrap_or(1);
            let inner: Message = m.unchecked_into();
            let id = inner.id().map(String::from).unwrap_or_default();
            let body = inner
                .body()
                .map(|b| crate::bytes::body_bytes(&b))
                .unwrap_or_default();
            Delivery {
                inner,
                queue: name.clone(),
                id,
                attempts,
                body,
            }
        })
        .collect();
    use crate::meter::{count, Op};
    count(Op::Invocation, 1, &queue);
    count(Op::QueueRead, out.len(), &queue);
    let redelivered = out.iter().filter(|d| d.attempts > 1).count();
    count(Op::QueueRedelivery, redelivered, &queue);
    (queue, out)
}
