//! Executing `trade-execution` jobs, exactly once.
//!
//! For each job: kill switch (fail-closed) → claim in the IdempotencyStore → pre-trade checks →
//! exchange → record the outcome in the store → publish the `TradeEvent` → ack. A job whose key
//! is already done is acked without touching the exchange (its event is re-published if it was
//! not yet). Jobs of one (exchange, symbol) pair run in the order the gateway received them;
//! different pairs run concurrently.

use crate::exchange::{self, LiveOutcome};
use base64::Engine as _;
use contracts::config::{Mode, RuntimeConfig};
use contracts::event::{Outcome, TradeEvent};
use contracts::idempotency::{ClaimResponse, CompleteRequest, KeyUpdate};
use contracts::job::{DeadLetter, DeadLetterReason, TradeJob};
use contracts::signal::Exchange;
use exchanges::order::OrderRequest;
use exchanges::paper;
use runtime::idempotency::Store;
use runtime::queue::Delivery;
use runtime::{bytes, now_ms};
use std::collections::BTreeMap;
use std::rc::Rc;
use tracing::Instrument as _;
use worker::Env;

/// Producer binding of `trade-events`.
pub const EVENTS_BINDING: &str = "TRADE_EVENTS";
/// Producer binding of `trade-execution-dlq`, for jobs this consumer decides are dead.
pub const DLQ_BINDING: &str = "TRADE_DLQ";

/// What to do with one delivery.
#[derive(Debug)]
enum Disposition {
    Ack,
    Retry {
        delay_seconds: u32,
        error: String,
    },
    Dead {
        reason: DeadLetterReason,
        detail: String,
    },
}

pub async fn run(deliveries: Vec<Delivery>, env: &Env) {
    let cfg = match runtime::config::load(env).await {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::error!(error = %e, "CONFIG_KV unreadable: kill switch treated as on");
            Rc::new(RuntimeConfig::unreadable())
        }
    };
    let mut pairs: BTreeMap<(Exchange, String), Vec<(Delivery, TradeJob)>> = BTreeMap::new();
    for d in deliveries {
        match TradeJob::decode(&d.body) {
            Ok(job) => pairs
                .entry((job.signal.exchange, job.signal.symbol.canonical()))
                .or_default()
                .push((d, job)),
            Err(e) => {
                tracing::error!(message_id = %d.id, error = %e, "undecodable job");
                let letter = DeadLetter {
                    reason: e.reason(),
                    detail: e.to_string(),
                    attempts: d.attempts,
                    job: None,
                    raw: d.body.clone(),
                };
                dead_letter(env, &d, letter).await;
            }
        }
    }
    let lanes = pairs.into_values().map(|mut lane| {
        lane.sort_by_key(|(_, job)| job.received_at_ms);
        let cfg = cfg.clone();
        async move {
            let mut held: Option<u32> = None;
            for (d, job) in lane {
                let span = tracing::info_span!("job", request_id = %job.request_id, idempotency_key = %job.idempotency_key, attempt = d.attempts);
                // Once a job of this pair waits, the later ones wait too, so they keep their order.
                if let Some(delay) = held {
                    d.retry(delay);
                    continue;
                }
                let disposition = process(&job, &d, &cfg, env).instrument(span.clone()).await;
                async {
                    match disposition {
                        Disposition::Ack => d.ack(),
                        Disposition::Retry { delay_seconds, error } => {
                            tracing::warn!(delay_seconds, error = %error, "retrying");
                            held = Some(delay_seconds);
                            d.retry(delay_seconds);
                        }
                        Disposition::Dead { reason, detail } => {
                            let letter = DeadLetter {
                                reason,
                                detail,
                                attempts: d.attempts,
                                job: Some(job.clone()),
                                raw: vec![],
                            };
                            dead_letter(env, &d, letter).await;
                        }
                    }
                }
                .instrument(span)
                .await;
            }
        }
    });
    futures::future::join_all(lanes).await;
}

/// Sends a dead letter and acks the original; if the DLQ cannot take it, the original is retried
/// so nothing is lost.
async fn dead_letter(env: &Env, d: &Delivery, letter: DeadLetter) {
    let sent = match env.queue(DLQ_BINDING) {
        Ok(q) => q.send_raw(bytes::message(&letter.encode())).await,
        Err(e) => Err(e),
    };
    match sent {
        Ok(()) => {
            tracing::warn!(reason = letter.reason.as_str(), detail = %letter.detail, "dead-lettered");
            d.ack();
        }
        Err(e) => {
            tracing::error!(error = %e, "dead-letter queue unavailable; retrying the message");
            d.retry(10);
        }
    }
}

fn retry_delay(cfg: &RuntimeConfig, attempt: u32) -> u32 {
    cfg.retry.delay_seconds(attempt, js_sys::Math::random())
}

async fn process(job: &TradeJob, d: &Delivery, cfg: &RuntimeConfig, env: &Env) -> Disposition {
    if cfg.kill_switch {
        return Disposition::Dead {
            reason: DeadLetterReason::KillSwitch,
            detail: "trade:kill_switch is on (or unreadable); replay once it is off".into(),
        };
    }
    let order = OrderRequest::for_job(job, cfg);
    // Paper unless live mode routes a valid order to a real exchange.
    let venue = match (&order, cfg.mode) {
        (Ok(o), Mode::Live) => o.exchange,
        _ => Exchange::Paper,
    };
    // Over the exchange's order quota: wait, before claiming anything.
    if let Some(quota) = cfg.rate_limits.get(&venue) {
        if let Err(wait) = exchange::take_rate_slot(venue, *quota) {
            return Disposition::Retry {
                delay_seconds: wait,
                error: format!("ratelimit:orders for {venue} reached"),
            };
        }
    }
    let store = Store::new(env);
    let store_down = |e: runtime::idempotency::StoreError| Disposition::Retry {
        delay_seconds: retry_delay(cfg, d.attempts),
        error: e.to_string(),
    };
    let (attempt, in_doubt, replayed_at_ms) = match store.claim(&job.idempotency_key).await {
        Ok(ClaimResponse::Claimed {
            attempt,
            replayed_at_ms,
        }) => (attempt, false, replayed_at_ms),
        Ok(ClaimResponse::InDoubt { attempt }) => {
            tracing::warn!(attempt, "earlier attempt ended in doubt: reconciling first");
            (attempt, true, None)
        }
        Ok(ClaimResponse::Busy {
            retry_after_seconds,
        }) => {
            return Disposition::Retry {
                delay_seconds: retry_after_seconds,
                error: "another delivery holds the claim".into(),
            }
        }
        Ok(ClaimResponse::Done {
            outcome,
            event,
            event_published,
        }) => {
            tracing::info!(
                outcome = outcome.as_str(),
                "already done; acked without side effects"
            );
            if !event_published {
                if let Some(event) = event {
                    return publish(env, &store, &job.idempotency_key, &event, cfg, d).await;
                }
            }
            return Disposition::Ack;
        }
        Ok(ClaimResponse::Dead) => {
            tracing::info!("key is dead-lettered; acked");
            return Disposition::Ack;
        }
        Ok(ClaimResponse::Unknown) => {
            return Disposition::Dead {
                reason: DeadLetterReason::Unrecorded,
                detail: "the idempotency store has no record of this key".into(),
            }
        }
        Err(e) => return store_down(e),
    };

    // Checks that need no exchange. A refusal here releases the claim: no order was placed.
    // A job in doubt skips them: its first attempt passed them and may have placed the order,
    // which only the exchange can tell.
    let release = |error: String| KeyUpdate::AttemptFailed {
        key: job.idempotency_key.clone(),
        error,
        released: true,
    };
    if !in_doubt {
        // An operator's replay is a fresh decision: its age counts from the replay.
        let signal_time = replayed_at_ms
            .or(job.signal.timestamp_ms)
            .unwrap_or(job.received_at_ms);
        let age_ms = now_ms() - signal_time;
        if cfg.max_signal_age_seconds > 0 && age_ms > (cfg.max_signal_age_seconds as i64) * 1000 {
            let detail = format!(
                "signal is {} s old, over trade:max_signal_age_seconds = {}",
                age_ms / 1000,
                cfg.max_signal_age_seconds
            );
            if let Err(e) = store.update(&release(detail.clone())).await {
                return store_down(e);
            }
            return Disposition::Dead {
                reason: DeadLetterReason::Stale,
                detail,
            };
        }
        if !cfg.exchange_enabled.get(&venue).copied().unwrap_or(false) {
            let detail = format!("exchange:{venue}:enabled is off");
            if let Err(e) = store.update(&release(detail.clone())).await {
                return store_down(e);
            }
            return Disposition::Dead {
                reason: DeadLetterReason::ExchangeDisabled,
                detail,
            };
        }
    }

    let mut event = TradeEvent::for_job(job, Outcome::Rejected, attempt, now_ms());
    match order {
        Err(e) => event.detail = Some(e.to_string()),
        Ok(order) => match exchanges::venue(venue) {
            // Paper orders leave nothing to reconcile: an in-doubt paper fill is simply redone.
            None => match paper::fill(&order) {
                Ok(ack) => {
                    event.outcome = Outcome::Filled;
                    event.order = Some(ack);
                }
                Err(e) => event.detail = Some(e.to_string()),
            },
            Some(v) => {
                let live = exchange::Attempt {
                    env,
                    venue: v,
                    idempotency_key: &job.idempotency_key,
                    attempt,
                };
                match live.run(&order, in_doubt).await {
                    LiveOutcome::Filled(ack) => {
                        event.outcome = Outcome::Filled;
                        event.order = Some(ack);
                    }
                    LiveOutcome::Rejected(detail) => event.detail = Some(detail),
                    LiveOutcome::Retry {
                        delay_seconds,
                        error,
                        released,
                    } => {
                        let failed = KeyUpdate::AttemptFailed {
                            key: job.idempotency_key.clone(),
                            error: error.clone(),
                            released,
                        };
                        if let Err(e) = store.update(&failed).await {
                            tracing::error!(error = %e, "could not record the failed attempt");
                        }
                        let backoff = retry_delay(cfg, d.attempts);
                        return Disposition::Retry {
                            delay_seconds: delay_seconds.map_or(backoff, |r| r.max(backoff)),
                            error,
                        };
                    }
                }
            }
        },
    }
    event.at_ms = now_ms();
    // What the gateway's `signal accepted` line said, so one line tells a signal's whole story.
    tracing::info!(
        outcome = event.outcome.as_str(),
        detail = ?event.detail,
        exchange = %job.signal.exchange,
        symbol = %job.signal.symbol,
        action = job.signal.action.as_str(),
        since_intake_ms = event.at_ms - job.received_at_ms,
        "executed"
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(event.encode());
    let complete = CompleteRequest {
        key: job.idempotency_key.clone(),
        outcome: event.outcome,
        event: encoded.clone(),
    };
    if let Err(e) = store.complete(&complete).await {
        // The claim stays `submitting`: the next attempt is in doubt and reconciles first.
        return store_down(e);
    }
    publish(env, &store, &job.idempotency_key, &encoded, cfg, d).await
}

/// Publishes an ended job's event and marks it published. A failure retries the message, whose
/// next attempt finds the key done and only publishes.
async fn publish(
    env: &Env,
    store: &Store<'_>,
    key: &str,
    event_b64: &str,
    cfg: &RuntimeConfig,
    d: &Delivery,
) -> Disposition {
    let retry = |error: String| Disposition::Retry {
        delay_seconds: retry_delay(cfg, d.attempts),
        error,
    };
    let event = match base64::engine::general_purpose::STANDARD.decode(event_b64) {
        Ok(e) => e,
        Err(e) => return retry(format!("stored event is not base64: {e}")),
    };
    let sent = match env.queue(EVENTS_BINDING) {
        Ok(q) => q.send_raw(bytes::message(&event)).await,
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        return retry(format!("trade-events send failed: {e}"));
    }
    if let Err(e) = store
        .update(&KeyUpdate::EventPublished { key: key.into() })
        .await
    {
        // The event is out; a repeat publish is harmless (the ledger upserts).
        tracing::warn!(error = %e, "could not mark event published");
    }
    Disposition::Ack
}
