//! One delivery of a trade job, from the claim to its disposition: the rules that make "at most
//! one order per signal, and every signal ends" hold when calls are slow, answers are lost and
//! deliveries overlap.
//!
//! The order of an attempt: kill switch (the KV mirror) → order quota → **claim** (its `attempt`
//! is the fencing token every later write names, and its time starts the attempt's one
//! deadline) → if in doubt, **look the order up first** (found: the job ends with what was found;
//! absent: on as a fresh claim) → the checks (kill switch, freshness, exchange enabled,
//! pre-trade) → circuit breaker → **prepare** (instrument rules, the exchange's reference price,
//! leverage) → the order against the reference price → enough time left for a whole submit →
//! **begin_submit** (renews the lease, marks the key in doubt, re-checks the store's kill switch)
//! → **submit** → classify → **protect** (an entry that stands at the exchange and asked for a
//! take-profit or stop-loss: [`ExchangePort::protect`], under the same claim and deadline) →
//! **complete** → publish the event → if the order is not final, send its first follow-up
//! ([`crate::follow`]) → mark published → ack. An entry an in-doubt lookup found is protected
//! the same way before it completes (the port looks every protective order up before it could
//! place one, so none is placed twice). A protection that fails never loses the fill: the job
//! completes filled, its event says `protection: Failed` and why, and the alert says so.
//!
//! A failure releases the claim (`released: true`) only when no order can exist from any attempt;
//! an unknown outcome keeps the key in doubt, so the next attempt reconciles before it may
//! submit.

use crate::circuit::{Network, DEFAULT_BAN_SECONDS};
use crate::follow;
use crate::ports::{Clock, Events, ExchangePort, Exchanges, FailureClass, KeyStore, Lookup};
use crate::pretrade::{self, Refusal};
use base64::Engine as _;
use contracts::config::RuntimeConfig;
use contracts::event::{OrderAck, Outcome, Protection, TradeEvent};
use contracts::idempotency::{
    AttemptFailedRequest, ClaimResponse, CompleteRequest, Fenced, SubmitGrant, SubmitRequest,
};
use contracts::job::{DeadLetterReason, FollowOrder, TradeJob};
use contracts::lifecycle::ATTEMPT_DEADLINE_MS;
use contracts::signal::Exchange;
use exchanges::order::{OrderRequest, PreTradeError};

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

/// The ports one attempt runs over.
pub struct Ports<'a, S, X, C, E> {
    pub store: &'a S,
    pub exchanges: &'a X,
    pub clock: &'a C,
    pub events: &'a E,
}

/// Time an outcome's store write keeps after a submit that used its whole timeout: a submit
/// starts only while its timeout plus this remains, so its `complete` still fits the deadline.
pub const OUTCOME_RESERVE_MS: i64 = 2_000;

/// A gate consulted right before the claim with the job's venue (the worker's order quota);
/// `Some` ends the delivery there, with nothing claimed.
pub(crate) type Admit<'g> = &'g dyn Fn(&TradeJob, Exchange) -> Option<Disposition>;

/// Runs one delivery of `job` (its `delivery_attempts`-th) and says what to do with it.
pub async fn execute<S: KeyStore, X: Exchanges, C: Clock, E: Events>(
    job: &TradeJob,
    delivery_attempts: u32,
    cfg: &RuntimeConfig,
    ports: &Ports<'_, S, X, C, E>,
) -> Disposition {
    execute_admitted(job, delivery_attempts, cfg, ports, &|_, _| None).await
}

/// [`execute`], with `admit` asked before the claim.
pub(crate) async fn execute_admitted<S: KeyStore, X: Exchanges, C: Clock, E: Events>(
    job: &TradeJob,
    delivery_attempts: u32,
    cfg: &RuntimeConfig,
    ports: &Ports<'_, S, X, C, E>,
    admit: Admit<'_>,
) -> Disposition {
    let backoff = || retry_delay(cfg, delivery_attempts, ports.clock);
    if cfg.kill_switch {
        return dead(DeadLetterReason::KillSwitch, pretrade::KILL_SWITCH_DETAIL);
    }
    let order = OrderRequest::for_job(job, cfg);
    let venue = pretrade::route(&order, cfg);
    if let Some(d) = admit(job, venue) {
        return d;
    }
    // The attempt's one deadline, counted from just before the claim (so it ends before the
    // lease the store grants, which starts when the store handles the claim).
    let deadline_ms = ports.clock.now_ms().saturating_add(ATTEMPT_DEADLINE_MS);
    let key = &job.idempotency_key;
    let claim = match ports
        .store
        .claim(key, job.received_at_ms, deadline_ms)
        .await
    {
        Ok(c) => c,
        Err(e) => return retry(backoff(), e.to_string()),
    };
    let (attempt, in_doubt, submitted_at_ms, replayed_at_ms) = match claim {
        ClaimResponse::Claimed {
            attempt,
            in_doubt,
            submitted_at_ms,
            replayed_at_ms,
            ..
        } => (attempt, in_doubt, submitted_at_ms, replayed_at_ms),
        // The store's own time, with its margin: never recomputed here.
        ClaimResponse::Busy {
            retry_after_seconds,
        } => {
            return retry(
                retry_after_seconds,
                "another attempt holds the claim, or an earlier submit is still settling".into(),
            )
        }
        ClaimResponse::Done {
            outcome,
            event,
            event_published,
        } => {
            tracing::info!(
                outcome = outcome.as_str(),
                "already done; acked without side effects"
            );
            return match event.filter(|_| !event_published) {
                Some(event) => republish(job, &event, deadline_ms, ports, backoff()).await,
                None => Disposition::Ack,
            };
        }
        ClaimResponse::Dead => {
            tracing::info!("key is dead-lettered; acked");
            return Disposition::Ack;
        }
        ClaimResponse::Unknown => {
            return dead(
                DeadLetterReason::Unrecorded,
                "the idempotency store has no record of this key",
            )
        }
        ClaimResponse::KillSwitch => {
            return dead(
                DeadLetterReason::KillSwitch,
                "the store's kill switch is on: nothing was claimed; replay once it is off",
            )
        }
    };
    let mut run = Run {
        job,
        cfg,
        ports,
        delivery_attempts,
        attempt,
        deadline_ms,
        no_order: !in_doubt,
    };
    if in_doubt {
        tracing::warn!(
            attempt,
            submitted_at_ms,
            "an earlier attempt may have placed the order: looking it up first"
        );
        if let Some(d) = run.reconcile(&order).await {
            return d;
        }
    }
    run.fresh(order, venue, replayed_at_ms).await
}

/// One claimed attempt.
struct Run<'r, 'p, S, X, C, E> {
    job: &'r TradeJob,
    cfg: &'r RuntimeConfig,
    ports: &'r Ports<'p, S, X, C, E>,
    delivery_attempts: u32,
    /// The claim's fencing token.
    attempt: u32,
    deadline_ms: i64,
    /// No order can exist at the exchange from any attempt of this key: nothing was submitted
    /// and the key was not in doubt, or this attempt's lookup found nothing and its own submit
    /// (if any) was certainly refused. Only then may a failure release the claim.
    no_order: bool,
}

impl<S: KeyStore, X: Exchanges, C: Clock, E: Events> Run<'_, '_, S, X, C, E> {
    fn backoff(&self) -> u32 {
        retry_delay(self.cfg, self.delivery_attempts, self.ports.clock)
    }

    fn now(&self) -> i64 {
        self.ports.clock.now_ms()
    }

    /// An in-doubt claim: the earlier attempt's order, looked up before any check. `None` when
    /// it certainly does not exist (the attempt goes on as a fresh one).
    async fn reconcile(
        &mut self,
        order: &Result<OrderRequest, PreTradeError>,
    ) -> Option<Disposition> {
        let Some(lookup) = pretrade::order_for_lookup(self.job, order, self.cfg) else {
            // No attempt could ever have built an order for this job: none exists.
            self.no_order = true;
            return None;
        };
        let venue = pretrade::venue_of(&lookup, self.cfg);
        if let Some(d) = self.circuit_open(venue, lookup.testnet).await {
            return Some(d);
        }
        let port = self.ports.exchanges.port(venue);
        match port.lookup(&lookup, self.deadline_ms).await {
            Ok(Lookup::Found(ack)) => {
                tracing::warn!(client_order_id = %ack.client_order_id, status = %ack.status, "reconciled: the earlier attempt placed the order");
                let (outcome, detail) = judge(&ack, "the order of an earlier attempt");
                let protection = self.protect(&port, &lookup, &ack, outcome).await;
                let placed = Placed {
                    ack,
                    venue,
                    testnet: lookup.testnet,
                };
                Some(
                    self.finish_protected(outcome, Some(placed), detail, protection)
                        .await,
                )
            }
            Ok(Lookup::NotFound) => {
                tracing::info!("reconciled: no order from the earlier attempt");
                self.no_order = true;
                None
            }
            Err(f) => {
                let error = format!("reconcile lookup failed: {}", f.message);
                Some(self.failure(f.class, error, venue, lookup.testnet).await)
            }
        }
    }

    /// Everything after the claim (or after a lookup that found nothing).
    async fn fresh(
        &mut self,
        order: Result<OrderRequest, PreTradeError>,
        venue: Exchange,
        replayed_at_ms: Option<i64>,
    ) -> Disposition {
        if let Some(Refusal { reason, detail }) =
            pretrade::refusal(self.job, venue, self.cfg, replayed_at_ms, self.now())
        {
            // Nothing submitted, and nothing found from earlier: `no_order` holds here.
            self.attempt_failed(&detail, self.no_order).await;
            return dead(reason, &detail);
        }
        let order = match order {
            Ok(o) => o,
            Err(e) => {
                return self
                    .finish(Outcome::Rejected, None, Some(e.to_string()))
                    .await
            }
        };
        if let Some(d) = self.circuit_open(venue, order.testnet).await {
            return d;
        }
        let port = self.ports.exchanges.port(venue);
        let prepared = match port.prepare(&order, self.deadline_ms).await {
            Ok(p) => p,
            Err(f) => return self.failure(f.class, f.message, venue, order.testnet).await,
        };
        if let Err(e) = order.check_against(prepared.reference_price, self.cfg) {
            return self
                .finish(Outcome::Rejected, None, Some(e.to_string()))
                .await;
        }
        if let Some(d) = self.too_late(&port).await {
            return d;
        }
        let grant = SubmitRequest {
            key: self.job.idempotency_key.clone(),
            attempt: self.attempt,
        };
        match self
            .ports
            .store
            .begin_submit(&grant, self.deadline_ms)
            .await
        {
            Ok(SubmitGrant::Granted { .. }) => {}
            Ok(SubmitGrant::KillSwitch) => {
                // Nothing was submitted by this attempt, and any earlier order was looked up
                // and is absent (`no_order` holds): the claim is released.
                self.attempt_failed("the store's kill switch is on", self.no_order)
                    .await;
                return dead(
                    DeadLetterReason::KillSwitch,
                    "the store's kill switch turned on before the submit; nothing was submitted; replay once it is off",
                );
            }
            Ok(SubmitGrant::Stale { reason }) => {
                // Not ours any more: another attempt or the key's end decides. No writes.
                return retry(self.backoff(), format!("submit not granted: {reason}"));
            }
            Err(e) => {
                // The grant may or may not have been recorded; nothing was submitted either way.
                self.attempt_failed(&e.to_string(), self.no_order).await;
                return retry(self.backoff(), e.to_string());
            }
        }
        // The grant itself took time: the whole submit must still fit.
        if let Some(d) = self.too_late(&port).await {
            return d;
        }
        self.no_order = false;
        match port.submit(&order, &prepared, self.deadline_ms).await {
            Ok(ack) => {
                let (outcome, detail) = judge(&ack, "the order");
                let protection = self.protect(&port, &order, &ack, outcome).await;
                let placed = Placed {
                    ack,
                    venue,
                    testnet: order.testnet,
                };
                self.finish_protected(outcome, Some(placed), detail, protection)
                    .await
            }
            Err(f) => {
                if f.class != FailureClass::Unknown {
                    // The exchange refused it (for now or for good): no order from this
                    // attempt, and the lookup found none from earlier ones.
                    self.no_order = true;
                }
                self.failure(f.class, f.message, venue, order.testnet).await
            }
        }
    }

    /// A submit that could not finish by the deadline is not started: the claim is released
    /// (nothing was submitted) and the job retried with a fresh deadline.
    async fn too_late(&self, port: &impl ExchangePort) -> Option<Disposition> {
        let needed = port.submit_timeout_ms().saturating_add(OUTCOME_RESERVE_MS);
        let left = self.deadline_ms.saturating_sub(self.now());
        if left >= needed {
            return None;
        }
        let error = format!(
            "the attempt's deadline is {left} ms away and a submit needs {needed} ms: not started"
        );
        self.attempt_failed(&error, self.no_order).await;
        Some(retry(self.backoff(), error))
    }

    /// The exchange's circuit is open: retry once the ban is over, calling nothing.
    async fn circuit_open(&self, venue: Exchange, testnet: bool) -> Option<Disposition> {
        let circuit = self.ports.exchanges.circuit()?;
        let wait = circuit
            .borrow()
            .open_for(venue, Network::of(testnet), self.now())?;
        let error = format!(
            "{venue} {} circuit open (IP ban) for {wait} s",
            Network::of(testnet).as_str()
        );
        self.attempt_failed(&error, self.no_order).await;
        Some(retry(wait.max(self.backoff()), error))
    }

    /// An exchange call failed with `class`.
    async fn failure(
        &self,
        class: FailureClass,
        error: String,
        venue: Exchange,
        testnet: bool,
    ) -> Disposition {
        let released = self.no_order;
        match class {
            // Refused for good, and no order exists: the job ends rejected.
            FailureClass::Terminal if released => {
                self.finish(Outcome::Rejected, None, Some(error)).await
            }
            FailureClass::Terminal | FailureClass::Unknown => {
                self.attempt_failed(&error, released).await;
                retry(self.backoff(), error)
            }
            FailureClass::Retryable {
                retry_after_seconds,
            } => {
                self.attempt_failed(&error, released).await;
                let backoff = self.backoff();
                retry(
                    retry_after_seconds.map_or(backoff, |r| r.max(backoff)),
                    error,
                )
            }
            FailureClass::Banned {
                retry_after_seconds,
            } => {
                let seconds = retry_after_seconds.unwrap_or(DEFAULT_BAN_SECONDS);
                if let Some(circuit) = self.ports.exchanges.circuit() {
                    circuit
                        .borrow_mut()
                        .open(venue, Network::of(testnet), self.now(), seconds);
                }
                tracing::error!(exchange = %venue, testnet, seconds, "exchange banned this IP: circuit open");
                self.attempt_failed(&error, released).await;
                retry(seconds.max(self.backoff()), error)
            }
        }
    }

    /// Records that this attempt ended without an outcome. Best effort: if the write is lost,
    /// the lease runs out and the next claim sees the key as this write would have left it, or
    /// in doubt (the safe side).
    async fn attempt_failed(&self, error: &str, released: bool) {
        let req = AttemptFailedRequest {
            key: self.job.idempotency_key.clone(),
            attempt: self.attempt,
            error: error.to_owned(),
            released,
        };
        match self
            .ports
            .store
            .attempt_failed(&req, self.deadline_ms)
            .await
        {
            Ok(Fenced::Applied) => {}
            Ok(Fenced::Stale) => {
                tracing::info!("failed attempt not recorded: the key was taken over")
            }
            Err(e) => tracing::warn!(error = %e, "could not record the failed attempt"),
        }
    }

    /// The take-profit and stop-loss of an entry that stands at the exchange (`outcome` filled),
    /// when its signal asked for either: put in place by the port under this claim, by the
    /// attempt's deadline less what the outcome's `complete` needs. `None` when there is
    /// nothing to protect.
    async fn protect(
        &self,
        port: &impl ExchangePort,
        order: &OrderRequest,
        ack: &OrderAck,
        outcome: Outcome,
    ) -> Option<Protection> {
        if outcome != Outcome::Filled || !exchanges::protect::asks_for_protection(order) {
            return None;
        }
        let deadline_ms = self.deadline_ms.saturating_sub(OUTCOME_RESERVE_MS);
        let protection = port.protect(order, ack, deadline_ms).await;
        if !protection.in_place() {
            tracing::error!(
                client_order_id = %order.client_order_id,
                protection = %protection.summary(),
                "the entry filled but its take-profit/stop-loss is not in place"
            );
        }
        Some(protection)
    }

    /// The job ended: record the outcome (fenced), then publish its event (and start following
    /// its order if that is not final).
    async fn finish(
        &self,
        outcome: Outcome,
        placed: Option<Placed>,
        detail: Option<String>,
    ) -> Disposition {
        self.finish_protected(outcome, placed, detail, None).await
    }

    /// [`Self::finish`], with the entry's protection in the event (and, when it failed, in the
    /// detail the ledger keeps).
    async fn finish_protected(
        &self,
        outcome: Outcome,
        placed: Option<Placed>,
        detail: Option<String>,
        protection: Option<Protection>,
    ) -> Disposition {
        let job = self.job;
        let mut event = TradeEvent::for_job(job, outcome, self.attempt, self.now());
        if let Some(p) = placed {
            event.order = Some(p.ack);
            event.venue = Some(p.venue);
            event.testnet = p.testnet;
        }
        event.detail = match (&protection, detail) {
            (Some(p), detail) if !p.in_place() => Some(match detail {
                Some(d) => format!("{d}; {}", p.summary()),
                None => p.summary(),
            }),
            (_, detail) => detail,
        };
        event.protection = protection;
        let bytes = event.encode();
        let complete = CompleteRequest {
            key: job.idempotency_key.clone(),
            attempt: self.attempt,
            outcome,
            event: base64::engine::general_purpose::STANDARD.encode(&bytes),
        };
        match self.ports.store.complete(&complete, self.deadline_ms).await {
            Ok(Fenced::Applied) => {}
            Ok(Fenced::Stale) => {
                // Another attempt holds (or ended) the key: its outcome is the key's. Retried,
                // so the next delivery acts on whatever the store then says.
                tracing::warn!(
                    outcome = outcome.as_str(),
                    "outcome not recorded: the key was taken over by another attempt"
                );
                return retry(
                    self.backoff(),
                    "the key was taken over by another attempt; this outcome was not recorded"
                        .into(),
                );
            }
            // The key stays claimed (in doubt if a submit began): the next attempt reconciles.
            Err(e) => return retry(self.backoff(), e.to_string()),
        }
        // What the gateway's `signal accepted` line said, so one line tells a signal's story.
        tracing::info!(
            outcome = event.outcome.as_str(),
            detail = ?event.detail,
            exchange = %job.signal.exchange,
            symbol = %job.signal.symbol,
            action = job.signal.action.as_str(),
            since_intake_ms = event.at_ms - job.received_at_ms,
            "executed"
        );
        publish(
            job,
            &bytes,
            follow::start(&event),
            self.deadline_ms,
            self.ports,
            self.backoff(),
        )
        .await
    }
}

/// An order the exchange has, and where it is.
struct Placed {
    ack: OrderAck,
    venue: Exchange,
    testnet: bool,
}

/// The outcome of an order the exchange has: filled if anything filled (a partial fill is a
/// fill, whatever the status word says); rejected if it ended with nothing filled; otherwise
/// accepted and resting (a limit order), which counts as filled.
fn judge(ack: &OrderAck, what: &str) -> (Outcome, Option<String>) {
    if ack.filled_quantity > rust_decimal::Decimal::ZERO || !ended(&ack.status) {
        (Outcome::Filled, None)
    } else {
        (
            Outcome::Rejected,
            Some(format!(
                "{what} ended as {} at the exchange with nothing filled",
                ack.status
            )),
        )
    }
}

/// Exchange statuses of an order that ended (cancelled, rejected, expired).
fn ended(status: &str) -> bool {
    let s = status.to_ascii_lowercase();
    ["cancel", "reject", "expire", "invalid"]
        .iter()
        .any(|w| s.contains(w))
}

/// Publishes a stored event again (the key ended but its event was not marked published).
async fn republish<S: KeyStore, X, C: Clock, E: Events>(
    job: &TradeJob,
    event_b64: &str,
    deadline_ms: i64,
    ports: &Ports<'_, S, X, C, E>,
    backoff: u32,
) -> Disposition {
    match base64::engine::general_purpose::STANDARD.decode(event_b64) {
        Ok(bytes) => {
            // The follow-up the first publish may not have sent (an older event: none).
            let follow = TradeEvent::decode(&bytes)
                .ok()
                .and_then(|e| follow::start(&e));
            publish(job, &bytes, follow, deadline_ms, ports, backoff).await
        }
        Err(e) => retry(backoff, format!("stored event is not base64: {e}")),
    }
}

/// Publishes an ended job's event, sends its order's first follow-up if it needs one, and marks
/// the event published. A failure retries the message, whose next attempt finds the key done
/// with its event unpublished: it publishes again (harmless: the ledger upserts) and sends the
/// follow-up again, so neither is lost.
async fn publish<S: KeyStore, X, C, E: Events>(
    job: &TradeJob,
    event: &[u8],
    follow: Option<FollowOrder>,
    deadline_ms: i64,
    ports: &Ports<'_, S, X, C, E>,
    backoff: u32,
) -> Disposition {
    if let Err(e) = ports.events.publish(event, deadline_ms).await {
        return retry(backoff, format!("trade-events send failed: {e}"));
    }
    if let Some(f) = follow {
        let delay = follow::delay_after(0);
        if let Err(e) = ports.events.follow(&f.encode(), delay, deadline_ms).await {
            return retry(backoff, format!("order follow-up not scheduled: {e}"));
        }
        tracing::info!(client_order_id = %f.client_order_id, status = %f.last.status, delay_seconds = delay, "order not final: following it");
    }
    // Named by the job's intake time: a late answer for an old signal must not mark the event
    // of a newer signal under a reused key as published.
    let marked = ports
        .store
        .event_published(&job.idempotency_key, job.received_at_ms, deadline_ms)
        .await;
    if let Err(e) = marked {
        // The event is out; a repeat publish is harmless (the ledger upserts).
        tracing::warn!(error = %e, "could not mark event published");
    }
    Disposition::Ack
}

/// The retry policy's delay for this delivery, with the clock's jitter.
pub fn retry_delay(cfg: &RuntimeConfig, delivery_attempts: u32, clock: &impl Clock) -> u32 {
    cfg.retry.delay_seconds(delivery_attempts, clock.random())
}

fn retry(delay_seconds: u32, error: String) -> Disposition {
    Disposition::Retry {
        delay_seconds,
        error,
    }
}

fn dead(reason: DeadLetterReason, detail: &str) -> Disposition {
    Disposition::Dead {
        reason,
        detail: detail.to_owned(),
    }
}

#[cfg(test)]
mod tests;
