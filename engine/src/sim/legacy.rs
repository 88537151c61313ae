//! A model of the logic before the lifecycle rework (`git show 18866d1:gateway/src/store.rs`
//! and `git show 18866d1:consumers/src/execution.rs`), so the simulation can show what it finds
//! there. Written from its rules, not its SQL:
//!
//! The old store: no fencing (`complete` and `attempt_failed` apply whichever attempt sends
//! them, `complete` even on an ended or dead key); a duplicate told `Busy` comes back exactly at
//! the lease's end; an unknown outcome expires the lease at once, so the next attempt reconciles
//! immediately, with no settle time; `Reopen` of a missing key inserts a fresh `accepted` row,
//! not in doubt; rows expire after the TTL from their intake whatever their state (unfinished
//! ones after a grace). No kill switch in the store, no pre-submit grant.
//!
//! The old consumer: client order id from the key alone; the kill switch read from the batch's
//! config only; in-doubt attempts skip the stale and exchange-enabled checks, and a pre-trade or
//! instrument refusal rejects the signal even in doubt, without a lookup; no renewal before the
//! submit and no attempt deadline (each exchange call has its own 10 s timeout).

use super::store::StoreModel;
use super::{Disposition, Ports};
use crate::ports::{Clock, Events, ExchangePort, Exchanges, FailureClass, KeyStore, Lookup};
use base64::Engine as _;
use contracts::config::{Mode, RuntimeConfig};
use contracts::event::{OrderAck, Outcome, TradeEvent};
use contracts::idempotency::{
    client_order_id, AttemptFailedRequest, ClaimResponse, CompleteRequest, Fenced, IntakeRequest,
    Lifecycle, SubmitGrant, SubmitRequest, CLAIM_LEASE_MS,
};
use contracts::job::{DeadLetterReason, TradeJob};
use contracts::lifecycle::{DEFAULT_TTL_MS, UNFINISHED_GRACE_MS};
use contracts::signal::Exchange;
use exchanges::order::OrderRequest;
use std::collections::HashMap;

/// The old store and queue calls had no deadline.
const NO_DEADLINE: i64 = i64::MAX;

/// The old consumer's per-call exchange timeout.
const CALL_TIMEOUT_MS: i64 = 10_000;

/// One row of the old `keys` table.
#[derive(Debug, Clone)]
struct Row {
    state: Lifecycle,
    attempts: u32,
    /// When the current claim was taken; 0 = expired on purpose (an unknown outcome).
    claimed_at: Option<i64>,
    /// Set by `MarkDead` on a key that was submitting; read by `Reopen`.
    in_doubt: bool,
    reopened_at: Option<i64>,
    event: Option<String>,
    event_published: bool,
    expires_at: i64,
}

/// The old store.
#[derive(Debug, Default)]
pub(crate) struct LegacyStore {
    rows: HashMap<String, Row>,
}

impl StoreModel for LegacyStore {
    fn intake(&mut self, req: &IntakeRequest, now: i64) -> bool {
        if self.rows.contains_key(&req.key) {
            return false;
        }
        self.rows.insert(
            req.key.clone(),
            Row {
                state: Lifecycle::Accepted,
                attempts: 0,
                claimed_at: None,
                in_doubt: false,
                reopened_at: None,
                event: None,
                event_published: false,
                expires_at: now + i64::from(req.ttl_seconds) * 1000,
            },
        );
        true
    }

    fn contains(&self, key: &str) -> bool {
        self.rows.contains_key(key)
    }

    fn claim(&mut self, key: &str, now: i64, _kill_switch: bool) -> ClaimResponse {
        let Some(row) = self.rows.get_mut(key) else {
            return ClaimResponse::Unknown;
        };
        let take = |row: &mut Row, in_doubt: bool| {
            row.state = Lifecycle::Submitting;
            row.attempts += 1;
            row.claimed_at = Some(now);
            ClaimResponse::Claimed {
                attempt: row.attempts,
                lease_until_ms: now + CLAIM_LEASE_MS,
                in_doubt,
                submitted_at_ms: None,
                // The old `InDoubt` answer carried no replay time.
                replayed_at_ms: if in_doubt { None } else { row.reopened_at },
            }
        };
        match row.state {
            Lifecycle::Accepted => take(row, false),
            Lifecycle::Submitting => {
                let held_for = now - row.claimed_at.unwrap_or(0);
                if held_for < CLAIM_LEASE_MS {
                    ClaimResponse::Busy {
                        retry_after_seconds: ((CLAIM_LEASE_MS - held_for) / 1000 + 1) as u32,
                    }
                } else {
                    take(row, true)
                }
            }
            Lifecycle::Done(outcome) => ClaimResponse::Done {
                outcome,
                event: row.event.clone(),
                event_published: row.event_published,
            },
            Lifecycle::Dead => ClaimResponse::Dead,
        }
    }

    fn begin_submit(&mut self, _req: &SubmitRequest, now: i64, _kill_switch: bool) -> SubmitGrant {
        // The old consumer never asked.
        SubmitGrant::Granted {
            lease_until_ms: now + CLAIM_LEASE_MS,
        }
    }

    fn complete(&mut self, req: &CompleteRequest, _now: i64) -> Fenced {
        if let Some(row) = self.rows.get_mut(&req.key) {
            row.state = Lifecycle::Done(req.outcome);
            row.event = Some(req.event.clone());
            row.event_published = false;
            row.claimed_at = None;
        }
        Fenced::Applied
    }

    fn attempt_failed(&mut self, req: &AttemptFailedRequest, _now: i64) -> Fenced {
        if let Some(row) = self.rows.get_mut(&req.key) {
            if row.state == Lifecycle::Submitting {
                if req.released {
                    row.state = Lifecycle::Accepted;
                    row.claimed_at = None;
                } else {
                    row.claimed_at = Some(0);
                }
            }
        }
        Fenced::Applied
    }

    fn event_published(&mut self, key: &str, _now: i64) {
        if let Some(row) = self.rows.get_mut(key) {
            row.event_published = true;
        }
    }

    fn mark_dead(&mut self, key: &str, _reason: &str, _recorded_at_ms: i64, _now: i64) {
        if let Some(row) = self.rows.get_mut(key) {
            if matches!(row.state, Lifecycle::Accepted | Lifecycle::Submitting) {
                row.in_doubt = row.state == Lifecycle::Submitting;
                row.state = Lifecycle::Dead;
                row.claimed_at = None;
            }
        }
    }

    fn reopen(&mut self, key: &str, now: i64, _letter_recorded_at: Option<i64>) -> bool {
        match self.rows.get_mut(key) {
            Some(row) => {
                if row.state == Lifecycle::Dead {
                    row.reopened_at = Some(now);
                    if row.in_doubt {
                        row.state = Lifecycle::Submitting;
                        row.claimed_at = Some(0);
                    } else {
                        row.state = Lifecycle::Accepted;
                        row.claimed_at = None;
                    }
                    row.expires_at = row.expires_at.max(now + DEFAULT_TTL_MS);
                }
                false
            }
            None => {
                self.rows.insert(
                    key.to_owned(),
                    Row {
                        state: Lifecycle::Accepted,
                        attempts: 0,
                        claimed_at: None,
                        in_doubt: false,
                        reopened_at: Some(now),
                        event: None,
                        event_published: false,
                        expires_at: now + DEFAULT_TTL_MS,
                    },
                );
                true
            }
        }
    }

    fn resolve(&mut self, _key: &str, _now: i64) {}

    fn expire(&mut self, now: i64) -> Vec<String> {
        let mut gone: Vec<String> = self
            .rows
            .iter()
            .filter(|(_, r)| {
                let unfinished = matches!(r.state, Lifecycle::Accepted | Lifecycle::Submitting);
                (r.expires_at <= now && !unfinished) || r.expires_at <= now - UNFINISHED_GRACE_MS
            })
            .map(|(k, _)| k.clone())
            .collect();
        gone.sort();
        for k in &gone {
            self.rows.remove(k);
        }
        gone
    }

    fn times(&self, out: &mut Vec<i64>) {
        for r in self.rows.values() {
            if let Some(t) = r.claimed_at {
                out.push(t + CLAIM_LEASE_MS);
            }
            out.push(r.expires_at);
            out.push(r.expires_at + UNFINISHED_GRACE_MS);
        }
    }

    fn describe(&self, key: &str) -> String {
        match self.rows.get(key) {
            None => format!("{key}: no row"),
            Some(r) => format!(
                "{key}: {} attempts {} claimed_at {:?}{}",
                r.state.as_str(),
                r.attempts,
                r.claimed_at.map(|t| if t == 0 {
                    "0 (expired)".to_owned()
                } else {
                    super::world::ts(t)
                }),
                if r.in_doubt { " in doubt" } else { "" }
            ),
        }
    }
}

/// The old consumer's `process`, one delivery.
pub(crate) async fn execute<S: KeyStore, X: Exchanges, C: Clock, E: Events>(
    job: &TradeJob,
    delivery_attempts: u32,
    cfg: &RuntimeConfig,
    ports: &Ports<'_, S, X, C, E>,
) -> Disposition {
    let key = job.idempotency_key.as_str();
    let backoff = || {
        cfg.retry
            .delay_seconds(delivery_attempts, ports.clock.random())
    };
    let retry = |error: String| Disposition::Retry {
        delay_seconds: backoff(),
        error,
    };
    if cfg.kill_switch {
        return Disposition::Dead {
            reason: DeadLetterReason::KillSwitch,
            detail: "trade:kill_switch is on".into(),
        };
    }
    // The client order id from the key alone.
    let order = OrderRequest::for_job(job, cfg).map(|mut o| {
        o.client_order_id = client_order_id(key, 0);
        o
    });
    let venue = match (&order, cfg.mode) {
        (Ok(o), Mode::Live) => o.exchange,
        _ => Exchange::Paper,
    };
    let (attempt, in_doubt, replayed_at_ms) = match ports
        .store
        .claim(key, job.received_at_ms, NO_DEADLINE)
        .await
    {
        Ok(ClaimResponse::Claimed {
            attempt,
            in_doubt,
            replayed_at_ms,
            ..
        }) => (attempt, in_doubt, replayed_at_ms),
        Ok(ClaimResponse::Busy {
            retry_after_seconds,
        }) => {
            return Disposition::Retry {
                delay_seconds: retry_after_seconds,
                error: "another delivery holds the claim".into(),
            }
        }
        Ok(ClaimResponse::Done {
            event,
            event_published,
            ..
        }) => {
            return match event {
                Some(e) if !event_published => publish(ports, key, &e, backoff()).await,
                _ => Disposition::Ack,
            }
        }
        Ok(ClaimResponse::Dead) => return Disposition::Ack,
        Ok(ClaimResponse::Unknown) | Ok(ClaimResponse::KillSwitch) => {
            return Disposition::Dead {
                reason: DeadLetterReason::Unrecorded,
                detail: "the idempotency store has no record of this key".into(),
            }
        }
        Err(e) => return retry(e.to_string()),
    };
    let failed = |error: String, released: bool| AttemptFailedRequest {
        key: key.to_owned(),
        attempt,
        error,
        released,
    };
    // The checks, skipped in doubt.
    if !in_doubt {
        let signal_time = replayed_at_ms
            .or(job.signal.timestamp_ms)
            .unwrap_or(job.received_at_ms);
        let age_ms = ports.clock.now_ms() - signal_time;
        if cfg.max_signal_age_seconds > 0 && age_ms > (cfg.max_signal_age_seconds as i64) * 1000 {
            let detail = format!("signal is {} s old", age_ms / 1000);
            if let Err(e) = ports
                .store
                .attempt_failed(&failed(detail.clone(), true), NO_DEADLINE)
                .await
            {
                return retry(e.to_string());
            }
            return Disposition::Dead {
                reason: DeadLetterReason::Stale,
                detail,
            };
        }
        if !cfg.exchange_enabled.get(&venue).copied().unwrap_or(false) {
            let detail = format!("exchange:{venue:?}:enabled is off");
            if let Err(e) = ports
                .store
                .attempt_failed(&failed(detail.clone(), true), NO_DEADLINE)
                .await
            {
                return retry(e.to_string());
            }
            return Disposition::Dead {
                reason: DeadLetterReason::ExchangeDisabled,
                detail,
            };
        }
    }
    let outcome = match &order {
        // Rejected even in doubt: no lookup.
        Err(e) => Live::Rejected(e.to_string()),
        Ok(order) => live(ports, venue, order, in_doubt).await,
    };
    let (outcome, ack, detail) = match outcome {
        Live::Filled(ack) => (Outcome::Filled, Some(ack), None),
        Live::Rejected(d) => (Outcome::Rejected, None, Some(d)),
        Live::Retry {
            retry_after,
            error,
            released,
        } => {
            let _ = ports
                .store
                .attempt_failed(&failed(error.clone(), released), NO_DEADLINE)
                .await;
            let b = backoff();
            return Disposition::Retry {
                delay_seconds: retry_after.map_or(b, |r| r.max(b)),
                error,
            };
        }
    };
    let mut event = TradeEvent::for_job(job, outcome, attempt, ports.clock.now_ms());
    event.order = ack;
    event.detail = detail;
    let encoded = base64::engine::general_purpose::STANDARD.encode(event.encode());
    let complete = CompleteRequest {
        key: key.to_owned(),
        attempt,
        outcome,
        event: encoded.clone(),
    };
    if let Err(e) = ports.store.complete(&complete, NO_DEADLINE).await {
        return retry(e.to_string());
    }
    publish(ports, key, &encoded, backoff()).await
}

/// How the old live attempt ended.
enum Live {
    Filled(OrderAck),
    Rejected(String),
    Retry {
        retry_after: Option<u32>,
        error: String,
        released: bool,
    },
}

fn retry_after(class: &FailureClass) -> Option<u32> {
    match class {
        FailureClass::Retryable {
            retry_after_seconds,
        }
        | FailureClass::Banned {
            retry_after_seconds,
        } => *retry_after_seconds,
        _ => None,
    }
}

/// The old `exchange::Attempt::run`: instrument (and leverage), reconcile if in doubt, submit.
async fn live<S: KeyStore, X: Exchanges, C: Clock, E: Events>(
    ports: &Ports<'_, S, X, C, E>,
    venue: Exchange,
    order: &OrderRequest,
    in_doubt: bool,
) -> Live {
    let port = ports.exchanges.port(venue);
    let deadline = || ports.clock.now_ms() + CALL_TIMEOUT_MS;
    let prepared = match port.prepare(order, deadline()).await {
        Ok(p) => p,
        // Refused even in doubt; a transport error or refusal releases even in doubt.
        Err(f) => {
            return match f.class {
                FailureClass::Terminal => Live::Rejected(f.message),
                FailureClass::Unknown => Live::Retry {
                    retry_after: None,
                    error: f.message,
                    released: false,
                },
                ref c => Live::Retry {
                    retry_after: retry_after(c),
                    error: f.message,
                    released: true,
                },
            }
        }
    };
    if in_doubt {
        match port.lookup(order, deadline()).await {
            Ok(Lookup::Found(ack)) => return Live::Filled(ack),
            Ok(Lookup::NotFound) => {}
            Err(f) => {
                return Live::Retry {
                    retry_after: retry_after(&f.class),
                    error: format!("reconcile query failed: {}", f.message),
                    released: false,
                }
            }
        }
    }
    match port.submit(order, &prepared, deadline()).await {
        Ok(ack) => Live::Filled(ack),
        Err(f) => match f.class {
            FailureClass::Unknown => Live::Retry {
                retry_after: None,
                error: f.message,
                released: false,
            },
            FailureClass::Terminal => Live::Rejected(f.message),
            ref c => Live::Retry {
                retry_after: retry_after(c),
                error: f.message,
                released: true,
            },
        },
    }
}

/// The old publish: send the event, mark it published.
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
    if let Err(e) = ports.events.publish(&bytes, NO_DEADLINE).await {
        return retry(e.to_string());
    }
    let _ = ports
        .store
        .event_published(key, i64::MIN, NO_DEADLINE)
        .await;
    Disposition::Ack
}
