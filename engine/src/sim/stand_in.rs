//! A stand-in for `engine::attempt::execute`, which another worktree is writing: the same
//! signature, written to the rules it was specified with, so the simulation runs today and is
//! pointed at the real one at merge (delete this file; see `sim/mod.rs`). If the simulation
//! then finds a violation, that is a difference between this and the real one worth reading.
//!
//! The rules: claim → if in doubt, look the order up first (found → complete filled) → checks
//! (kill switch, stale, exchange enabled, pre-trade) → prepare → `begin_submit` (must be
//! granted) → submit → classify → complete (fenced by attempt) → publish. An unknown outcome is
//! `attempt_failed { released: false }` and a retry; a certain refusal (or no submit at all,
//! after a lookup that found nothing) is `released: true`.

use crate::ports::{Clock, Events, ExchangePort, Exchanges, FailureClass, KeyStore, Lookup};
use base64::Engine as _;
use contracts::config::{Mode, RuntimeConfig};
use contracts::event::{OrderAck, Outcome, TradeEvent};
use contracts::idempotency::{
    AttemptFailedRequest, ClaimResponse, CompleteRequest, Fenced, SubmitGrant, SubmitRequest,
    ATTEMPT_DEADLINE_MS,
};
use contracts::job::{DeadLetterReason, TradeJob};
use contracts::signal::Exchange;
use exchanges::order::OrderRequest;
use rust_decimal::Decimal;

/// What to do with one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
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

/// The ports one delivery runs over.
pub struct Ports<'a, S, X, C, E> {
    pub store: &'a S,
    pub exchanges: &'a X,
    pub clock: &'a C,
    pub events: &'a E,
}

/// One delivery of `job` (`delivery_attempts`: the queue's attempt count, 1 on the first).
pub async fn execute<S: KeyStore, X: Exchanges, C: Clock, E: Events>(
    job: &TradeJob,
    delivery_attempts: u32,
    cfg: &RuntimeConfig,
    ports: &Ports<'_, S, X, C, E>,
) -> Disposition {
    let key = job.idempotency_key.as_str();
    // The attempt's budget runs from before its claim, so it ends before the claim's lease.
    let deadline_ms = ports.clock.now_ms().saturating_add(ATTEMPT_DEADLINE_MS);
    let backoff = || {
        cfg.retry
            .delay_seconds(delivery_attempts, ports.clock.random())
    };
    let (attempt, in_doubt, replayed_at_ms) = match ports.store.claim(key).await {
        Ok(ClaimResponse::Claimed {
            attempt,
            in_doubt,
            replayed_at_ms,
            ..
        }) => (attempt, in_doubt, replayed_at_ms),
        Ok(ClaimResponse::Done {
            event,
            event_published,
            ..
        }) => {
            return match event {
                Some(event) if !event_published => publish(ports, key, &event, backoff()).await,
                _ => Disposition::Ack,
            }
        }
        Ok(ClaimResponse::Busy {
            retry_after_seconds,
        }) => {
            return Disposition::Retry {
                delay_seconds: retry_after_seconds,
                error: "another delivery holds the claim, or an earlier submit is settling".into(),
            }
        }
        Ok(ClaimResponse::KillSwitch) => {
            return Disposition::Dead {
                reason: DeadLetterReason::KillSwitch,
                detail: "the kill switch is on; replay once it is off".into(),
            }
        }
        Ok(ClaimResponse::Dead) => return Disposition::Ack,
        Ok(ClaimResponse::Unknown) => {
            return Disposition::Dead {
                reason: DeadLetterReason::Unrecorded,
                detail: "the idempotency store has no record of this key".into(),
            }
        }
        Err(e) => {
            return Disposition::Retry {
                delay_seconds: backoff(),
                error: e.to_string(),
            }
        }
    };
    Attempt {
        job,
        cfg,
        ports,
        attempt,
        deadline_ms,
        delivery_attempts,
    }
    .run(in_doubt, replayed_at_ms)
    .await
}

/// Publishes an ended job's event (base64, as the store keeps it) and marks it published.
async fn publish<S: KeyStore, X: Exchanges, C: Clock, E: Events>(
    ports: &Ports<'_, S, X, C, E>,
    key: &str,
    event_b64: &str,
    retry_delay: u32,
) -> Disposition {
    let retry = |error: String| Disposition::Retry {
        delay_seconds: retry_delay,
        error,
    };
    let bytes = match base64::engine::general_purpose::STANDARD.decode(event_b64) {
        Ok(b) => b,
        Err(e) => return retry(format!("stored event is not base64: {e}")),
    };
    if let Err(e) = ports.events.publish(&bytes).await {
        return retry(e.to_string());
    }
    // A repeat publish is harmless (the ledger upserts), so a failed mark is not retried.
    let _ = ports.store.event_published(key).await;
    Disposition::Ack
}

/// The order as built for a lookup: the routed exchange and the client order id, without the
/// pre-trade checks (a config changed since the earlier attempt must not hide its order).
fn order_for_lookup(job: &TradeJob, cfg: &RuntimeConfig) -> Option<OrderRequest> {
    let mut relaxed = cfg.clone();
    relaxed.allowed_symbols.clear();
    relaxed.max_order_notional = Decimal::MAX;
    OrderRequest::for_job(job, &relaxed).ok()
}

/// Where an order goes: its routed exchange in live mode, else paper.
fn venue(cfg: &RuntimeConfig, order: Option<&OrderRequest>, job: &TradeJob) -> Exchange {
    match cfg.mode {
        Mode::Live => order.map_or(job.signal.exchange, |o| o.exchange),
        Mode::Paper => Exchange::Paper,
    }
}

fn retry_after(class: &FailureClass) -> Option<u32> {
    match class {
        FailureClass::Retryable {
            retry_after_seconds,
        }
        | FailureClass::Banned {
            retry_after_seconds,
        } => *retry_after_seconds,
        FailureClass::Terminal | FailureClass::Unknown => None,
    }
}

/// One claimed attempt.
struct Attempt<'p, 'a, S, X, C, E> {
    job: &'p TradeJob,
    cfg: &'p RuntimeConfig,
    ports: &'p Ports<'a, S, X, C, E>,
    attempt: u32,
    deadline_ms: i64,
    delivery_attempts: u32,
}

impl<S: KeyStore, X: Exchanges, C: Clock, E: Events> Attempt<'_, '_, S, X, C, E> {
    fn key(&self) -> &str {
        &self.job.idempotency_key
    }

    fn backoff(&self, retry_after: Option<u32>) -> u32 {
        let b = self
            .cfg
            .retry
            .delay_seconds(self.delivery_attempts, self.ports.clock.random());
        retry_after.map_or(b, |r| r.max(b))
    }

    async fn run(&self, in_doubt: bool, replayed_at_ms: Option<i64>) -> Disposition {
        let (job, cfg) = (self.job, self.cfg);
        let lookup_order = order_for_lookup(job, cfg);
        let venue = venue(cfg, lookup_order.as_ref(), job);
        if in_doubt {
            // An order that could not be built was never submitted: nothing to look up.
            if let Some(order) = &lookup_order {
                let port = self.ports.exchanges.port(venue);
                match port.lookup(order, self.deadline_ms).await {
                    Ok(Lookup::Found(ack)) => {
                        return self.end(Outcome::Filled, Some(ack), None).await
                    }
                    Ok(Lookup::NotFound) => {}
                    Err(f) => {
                        let after = retry_after(&f.class);
                        return self
                            .failed(format!("reconcile: {}", f.message), false, after)
                            .await;
                    }
                }
            }
        }
        // From here no order exists from any attempt: a refusal releases the claim.
        if cfg.kill_switch {
            return self
                .dead(
                    DeadLetterReason::KillSwitch,
                    "trade:kill_switch is on".into(),
                )
                .await;
        }
        let signal_time = replayed_at_ms
            .or(job.signal.timestamp_ms)
            .unwrap_or(job.received_at_ms);
        let age_ms = self.ports.clock.now_ms() - signal_time;
        let max_ms = i64::try_from(cfg.max_signal_age_seconds)
            .unwrap_or(i64::MAX / 2_000)
            .saturating_mul(1000);
        if cfg.max_signal_age_seconds > 0 && age_ms > max_ms {
            let detail = format!(
                "signal is {} s old, over trade:max_signal_age_seconds = {}",
                age_ms / 1000,
                cfg.max_signal_age_seconds
            );
            return self.dead(DeadLetterReason::Stale, detail).await;
        }
        if !cfg.exchange_enabled.get(&venue).copied().unwrap_or(false) {
            let detail = format!("exchange:{venue:?}:enabled is off");
            return self.dead(DeadLetterReason::ExchangeDisabled, detail).await;
        }
        let order = match OrderRequest::for_job(job, cfg) {
            Ok(o) => o,
            Err(e) => return self.end(Outcome::Rejected, None, Some(e.to_string())).await,
        };
        let port = self.ports.exchanges.port(venue);
        let prepared = match port.prepare(&order, self.deadline_ms).await {
            Ok(p) => p,
            Err(f) if f.class == FailureClass::Terminal => {
                return self.end(Outcome::Rejected, None, Some(f.message)).await
            }
            // Prepare places no order, whatever its failure.
            Err(f) => {
                let after = retry_after(&f.class);
                return self.failed(f.message, true, after).await;
            }
        };
        let grant = SubmitRequest {
            key: self.key().to_owned(),
            attempt: self.attempt,
        };
        match self.ports.store.begin_submit(&grant).await {
            Ok(SubmitGrant::Granted { .. }) => {}
            Ok(SubmitGrant::KillSwitch) => {
                return self
                    .dead(
                        DeadLetterReason::KillSwitch,
                        "trade:kill_switch is on".into(),
                    )
                    .await
            }
            // This attempt no longer holds the key: it writes nothing more.
            Ok(SubmitGrant::Stale { reason }) => {
                return Disposition::Retry {
                    delay_seconds: self.backoff(None),
                    error: reason,
                }
            }
            // Nothing was submitted (whether or not the grant was noted).
            Err(e) => return self.failed(e.to_string(), true, None).await,
        }
        match port.submit(&order, &prepared, self.deadline_ms).await {
            Ok(ack) => self.end(Outcome::Filled, Some(ack), None).await,
            Err(f) => match f.class {
                FailureClass::Unknown => self.failed(f.message, false, None).await,
                FailureClass::Terminal => self.end(Outcome::Rejected, None, Some(f.message)).await,
                FailureClass::Retryable {
                    retry_after_seconds,
                }
                | FailureClass::Banned {
                    retry_after_seconds,
                } => self.failed(f.message, true, retry_after_seconds).await,
            },
        }
    }

    /// The attempt ended without an outcome: tell the store (fenced), retry the delivery.
    async fn failed(&self, error: String, released: bool, retry_after: Option<u32>) -> Disposition {
        let req = AttemptFailedRequest {
            key: self.key().to_owned(),
            attempt: self.attempt,
            error: error.clone(),
            released,
        };
        let _ = self.ports.store.attempt_failed(&req).await;
        Disposition::Retry {
            delay_seconds: self.backoff(retry_after),
            error,
        }
    }

    /// A check refused the signal: release the claim (no order exists) and dead-letter it.
    async fn dead(&self, reason: DeadLetterReason, detail: String) -> Disposition {
        let req = AttemptFailedRequest {
            key: self.key().to_owned(),
            attempt: self.attempt,
            error: detail.clone(),
            released: true,
        };
        let _ = self.ports.store.attempt_failed(&req).await;
        Disposition::Dead { reason, detail }
    }

    /// The signal ended: record the outcome (fenced), then publish its event.
    async fn end(
        &self,
        outcome: Outcome,
        order: Option<OrderAck>,
        detail: Option<String>,
    ) -> Disposition {
        let mut event =
            TradeEvent::for_job(self.job, outcome, self.attempt, self.ports.clock.now_ms());
        event.order = order;
        event.detail = detail;
        let encoded = base64::engine::general_purpose::STANDARD.encode(event.encode());
        let req = CompleteRequest {
            key: self.key().to_owned(),
            attempt: self.attempt,
            outcome,
            event: encoded.clone(),
        };
        match self.ports.store.complete(&req).await {
            Ok(Fenced::Applied) => {
                publish(self.ports, self.key(), &encoded, self.backoff(None)).await
            }
            // Another attempt took the key over; it reconciles with whatever this one placed.
            Ok(Fenced::Stale) => Disposition::Retry {
                delay_seconds: self.backoff(None),
                error: "the outcome was refused: another attempt holds the key".into(),
            },
            // The key stays submitting (in doubt if a submit began): the next attempt looks up.
            Err(e) => Disposition::Retry {
                delay_seconds: self.backoff(None),
                error: e.to_string(),
            },
        }
    }
}
