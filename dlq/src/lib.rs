//! `dlq`: where signals that could not end normally are kept for operators.
//!
//! As a consumer of `trade-execution-dlq` and `trade-events-dlq` ([`consumer`]) it records every
//! dead letter in D1 (`dead_letters`: job, reason, attempts, last error), marks its key dead in
//! the IdempotencyStore, and alerts once per dead letter through `TELEGRAM_SERVICE`. As an HTTP
//! worker ([`api`], internal key, reached through the gateway's `/admin/dlq/*`) it lets
//! operators list, inspect, replay (one or many, dry run first) and discard them, writing every
//! action to `audit_log`. A replay first asks the ledger whether that very signal filled (then it
//! is skipped), reopens the key and re-enters `trade-execution` with the same idempotency key, so
//! exactly-once still holds; a discard lets the key expire. Its cron trigger ([`sweep`], every
//! minute) records keys the store reports as stuck, so nothing accepted vanishes unseen.
//!
//! The `queue` export is written by hand (see `runtime::queue`): no error escapes it. The
//! `scheduled` export is the `worker` macro's, whose handler returns nothing to fail with.

mod api;
mod consumer;
mod sweep;

use tracing::Instrument as _;
use wasm_bindgen::prelude::*;
use worker::worker_sys::{Context as ContextSys, MessageBatch};
use worker::{event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

pub use consumer::{retry_delay_seconds, MAX_RETRY_SECONDS};
pub use ops::dead_letters::{EVENTS_DLQ, EXECUTION_DLQ};

#[wasm_bindgen]
pub async fn queue(batch: MessageBatch, env: Env, _ctx: ContextSys) -> Result<JsValue, JsValue> {
    // A misconfigured secret is logged; the batch still runs (see `runtime::edge::start`).
    let _ = runtime::edge::start(&env);
    let (queue, deliveries) = runtime::queue::deliveries(&batch);
    consumer::run(&queue, deliveries, &env).await;
    Ok(JsValue::UNDEFINED)
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    runtime::edge::serve("dlq", req, env, api::handle).await
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let _ = runtime::edge::start(&env);
    let span = tracing::info_span!("sweep", cron = %event.cron(), worker = "dlq");
    sweep::run(&env).instrument(span).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `max_retries` of both DLQ consumers, read from `dlq/wrangler.jsonc`.
    fn configured_max_retries() -> Vec<u32> {
        let text = include_str!("../wrangler.jsonc");
        text.match_indices("\"max_retries\":")
            .map(|(i, m)| {
                let digits: String = text[i + m.len()..]
                    .trim_start()
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse().unwrap_or(0)
            })
            .collect()
    }

    #[test]
    fn the_backoff_doubles_from_ten_seconds_to_an_hour() {
        let delays: Vec<u32> = (1..=11).map(retry_delay_seconds).collect();
        assert_eq!(
            delays,
            [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(retry_delay_seconds(0), 10);
        assert_eq!(retry_delay_seconds(u32::MAX), MAX_RETRY_SECONDS);
    }

    const _: () = assert!(
        MAX_RETRY_SECONDS <= 43_200,
        "a retry delay the platform accepts"
    );

    #[test]
    fn the_dead_letter_consumers_retry_for_days_within_the_queue_limits() {
        let configured = configured_max_retries();
        assert_eq!(configured.len(), 2, "both DLQ consumers: {configured:?}");
        for max_retries in configured {
            // Cloudflare Queues: at most 100 retries, a retry delay of at most 12 h (24 h on the
            // current limits page), and messages kept 4 days unless configured longer.
            assert!(max_retries <= 100);
            let span: u64 = (1..=max_retries)
                .map(|a| u64::from(retry_delay_seconds(a)))
                .sum();
            assert!(span >= 3 * 86_400, "{span} s is less than three days");
            assert!(span < 4 * 86_400, "{span} s outlives the default retention");
        }
    }
}
