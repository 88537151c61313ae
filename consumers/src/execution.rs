//! The `trade-execution` consumer, as a thin adapter of the engine: decode each delivery, build
//! the engine's ports from the bindings, let [`engine::run_lanes`] decide each job (claim,
//! reconcile, checks, submit, complete, publish: all in `engine`), then apply each decision to its
//! delivery: ack, retry with a delay, or a dead letter. The only rule kept here is the order
//! quota, whose `governor` limiters live per isolate.
//!
//! Follow-ups (`FollowOrder` bodies, see `engine::follow`) share the queue: each is looked up
//! by [`engine::follow::run`] beside the batch's lanes (it claims nothing and submits nothing,
//! so it needs no lane), and acked or retried like a job.
//!
//! Exchange calls are logged to R2 after the batch's dispositions are applied
//! ([`LiveExchanges::close`]), never on a job's path: a slow R2 never delays a submit, a claim's
//! renewal or the next job of a lane. They are collected and awaited at the end of the batch
//! rather than spawned, so they finish inside this invocation (a spawned future that outlives
//! the handler is not guaranteed to run to its end).

use crate::exchange::{self, LiveExchanges};
use crate::ports::{QueueEvents, WorkerClock, WorkerStore};
use contracts::config::RuntimeConfig;
use contracts::job::{DeadLetter, ExecutionBody, FollowOrder, TradeJob};
use contracts::signal::Exchange;
use engine::circuit::Network;
use engine::{Disposition, Ports, Queued};
use runtime::bytes;
use runtime::queue::Delivery;
use std::rc::Rc;
use tracing::Instrument as _;
use worker::Env;

/// Producer binding of `trade-execution-dlq`, for jobs this consumer decides are dead.
pub const DLQ_BINDING: &str = "TRADE_DLQ";

pub async fn run(deliveries: Vec<Delivery>, env: &Env) {
    let cfg = match runtime::config::load(env).await {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::error!(error = %e, "CONFIG_KV unreadable: kill switch treated as on");
            Rc::new(RuntimeConfig::unreadable())
        }
    };
    let mut decoded: Vec<(Delivery, TradeJob)> = Vec::with_capacity(deliveries.len());
    let mut follows: Vec<(Delivery, FollowOrder)> = Vec::new();
    for d in deliveries {
        match ExecutionBody::decode(&d.body) {
            Ok(ExecutionBody::Job(job)) => decoded.push((d, job)),
            Ok(ExecutionBody::Follow(f)) => follows.push((d, f)),
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
    let batch: Vec<Queued<'_>> = decoded
        .iter()
        .map(|(d, job)| Queued {
            job,
            delivery_attempts: d.attempts,
        })
        .collect();
    let jobs: Vec<&TradeJob> = batch.iter().map(|q| q.job).collect();
    let followed: Vec<(Exchange, Network)> = follows
        .iter()
        .map(|(_, f)| (f.venue, Network::of(f.testnet)))
        .collect();
    let exchanges = LiveExchanges::open(env, &cfg, &jobs, &followed).await;
    let store = WorkerStore::new(env);
    let events = QueueEvents::new(env);
    let ports = Ports {
        store: &store,
        exchanges: &exchanges,
        clock: &WorkerClock,
        events: &events,
    };
    let follow_ups = follows.iter().map(|(d, f)| {
        let span = tracing::info_span!("follow", request_id = %f.job.request_id, idempotency_key = %f.job.idempotency_key, client_order_id = %f.client_order_id, attempt = d.attempts);
        engine::follow::run(f, d.attempts, &cfg, &exchanges, &WorkerClock, &events).instrument(span)
    });
    let (dispositions, followed) = futures::future::join(
        engine::run_lanes(&batch, &cfg, &ports, |_, venue| rate_slot(&cfg, venue)),
        futures::future::join_all(follow_ups),
    )
    .await;
    for ((d, f), disposition) in follows.iter().zip(followed) {
        match disposition {
            Disposition::Retry {
                delay_seconds,
                error,
            } => {
                tracing::warn!(request_id = %f.job.request_id, client_order_id = %f.client_order_id, delay_seconds, error = %error, "follow-up retried");
                d.retry(delay_seconds);
            }
            // A follow-up is never dead-lettered (the DLQ knows jobs only).
            Disposition::Ack | Disposition::Dead { .. } => d.ack(),
        }
    }
    let settle = decoded
        .iter()
        .zip(dispositions)
        .map(|((d, job), disposition)| {
            let span = tracing::info_span!("job", request_id = %job.request_id, idempotency_key = %job.idempotency_key, attempt = d.attempts);
            apply(env, d, job, disposition).instrument(span)
        });
    futures::future::join_all(settle).await;
    let mut names =
        exchange::jobs_by_client_order_id(batch.iter().map(|q| (q.job, q.delivery_attempts)));
    for (d, f) in &follows {
        names.insert(
            f.client_order_id.clone(),
            (f.job.idempotency_key.clone(), d.attempts),
        );
    }
    exchanges
        .close(|client_order_id| names.get(client_order_id).cloned())
        .await;
}

/// Takes a slot of the venue's order quota; over quota, the job waits, with nothing claimed.
fn rate_slot(cfg: &RuntimeConfig, venue: Exchange) -> Option<Disposition> {
    let quota = cfg.rate_limits.get(&venue)?;
    let wait = exchange::take_rate_slot(venue, *quota).err()?;
    Some(Disposition::Retry {
        delay_seconds: wait,
        error: format!("ratelimit:orders for {venue} reached"),
    })
}

/// What the engine decided, done to the delivery.
async fn apply(env: &Env, d: &Delivery, job: &TradeJob, disposition: Disposition) {
    match disposition {
        Disposition::Ack => d.ack(),
        // Logged by the lane, with the job's span.
        Disposition::Retry { delay_seconds, .. } => d.retry(delay_seconds),
        Disposition::Dead { reason, detail } => {
            let letter = DeadLetter {
                reason,
                detail,
                attempts: d.attempts,
                job: Some(job.clone()),
                raw: vec![],
            };
            dead_letter(env, d, letter).await;
        }
    }
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
            runtime::meter::count(runtime::meter::Op::QueueWrite, 1, "trade-execution-dlq");
            tracing::warn!(reason = letter.reason.as_str(), detail = %letter.detail, "dead-lettered");
            d.ack();
        }
        Err(e) => {
            tracing::error!(error = %e, "dead-letter queue unavailable; retrying the message");
            d.retry(10);
        }
    }
}
