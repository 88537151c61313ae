//! The idempotency store as the simulation holds it. [`NewStore`] is what the `IdempotencyStore`
//! Durable Object does today: a `HashMap<String, KeyRecord>` changed only through
//! `KeyRecord`'s own methods (so the state machine under test is the one that runs), with the
//! alarm's expiry modelled by deleting exactly the records `KeyRecord::expired` lets go. The
//! [`StoreModel`] trait is what the simulated world calls, so `legacy` can put the old store
//! behind the same calls.

use contracts::idempotency::{
    AttemptFailedRequest, ClaimResponse, CompleteRequest, Fenced, IntakeRequest, SubmitGrant,
    SubmitRequest,
};
use contracts::lifecycle::{KeyRecord, NEVER, SETTLE_MS};
use std::collections::HashMap;

/// Every transition the world makes on a store: the consumer's fenced operations (through the
/// simulated `KeyStore` port) and the gateway's, DLQ worker's, operator's and alarm's (applied
/// directly by the scheduler).
pub(crate) trait StoreModel {
    /// The gateway records a new key; `false` when the key is already there (a repeat).
    fn intake(&mut self, req: &IntakeRequest, now: i64) -> bool;
    fn contains(&self, key: &str) -> bool;
    fn claim(&mut self, key: &str, now: i64, kill_switch: bool) -> ClaimResponse;
    fn begin_submit(&mut self, req: &SubmitRequest, now: i64, kill_switch: bool) -> SubmitGrant;
    fn complete(&mut self, req: &CompleteRequest, now: i64) -> Fenced;
    fn attempt_failed(&mut self, req: &AttemptFailedRequest, now: i64) -> Fenced;
    fn event_published(&mut self, key: &str, now: i64);
    fn mark_dead(&mut self, key: &str, reason: &str, recorded_at_ms: i64, now: i64);
    /// An operator's replay of a letter recorded at `letter_recorded_at`; `true` when the key
    /// was missing and the replay recreated it.
    fn reopen(&mut self, key: &str, now: i64, letter_recorded_at: Option<i64>) -> bool;
    fn resolve(&mut self, key: &str, now: i64);
    /// The alarm: deletes what may go, and says which keys (sorted) it deleted.
    fn expire(&mut self, now: i64) -> Vec<String>;
    /// Times at which something about the store changes (a lease or settle time ends, a key
    /// may expire), for the scheduler to jump to.
    fn times(&self, out: &mut Vec<i64>);
    /// One line about a key, for traces.
    fn describe(&self, key: &str) -> String;
}

/// Today's store: `contracts::lifecycle` in a map.
#[derive(Debug, Default)]
pub(crate) struct NewStore {
    records: HashMap<String, KeyRecord>,
}

impl StoreModel for NewStore {
    fn intake(&mut self, req: &IntakeRequest, now: i64) -> bool {
        if self.records.contains_key(&req.key) {
            return false;
        }
        self.records
            .insert(req.key.clone(), KeyRecord::accepted(req, now));
        true
    }

    fn contains(&self, key: &str) -> bool {
        self.records.contains_key(key)
    }

    fn claim(&mut self, key: &str, now: i64, kill_switch: bool) -> ClaimResponse {
        match self.records.get_mut(key) {
            Some(r) => r.claim(now, kill_switch),
            None => ClaimResponse::Unknown,
        }
    }

    fn begin_submit(&mut self, req: &SubmitRequest, now: i64, kill_switch: bool) -> SubmitGrant {
        match self.records.get_mut(&req.key) {
            Some(r) => r.begin_submit(req.attempt, now, kill_switch),
            None => SubmitGrant::Stale {
                reason: "the store has no record of the key".into(),
            },
        }
    }

    fn complete(&mut self, req: &CompleteRequest, now: i64) -> Fenced {
        match self.records.get_mut(&req.key) {
            Some(r) => r.complete(req, now),
            None => Fenced::Stale,
        }
    }

    fn attempt_failed(&mut self, req: &AttemptFailedRequest, now: i64) -> Fenced {
        match self.records.get_mut(&req.key) {
            Some(r) => r.attempt_failed(req.attempt, &req.error, req.released, now),
            None => Fenced::Stale,
        }
    }

    fn event_published(&mut self, key: &str, now: i64) {
        if let Some(r) = self.records.get_mut(key) {
            r.event_published(now);
        }
    }

    fn mark_dead(&mut self, key: &str, reason: &str, recorded_at_ms: i64, now: i64) {
        if let Some(r) = self.records.get_mut(key) {
            r.mark_dead(reason, recorded_at_ms, now);
        }
    }

    fn reopen(&mut self, key: &str, now: i64, letter_recorded_at: Option<i64>) -> bool {
        match self.records.get_mut(key) {
            Some(r) => {
                r.reopen(now, letter_recorded_at);
                false
            }
            None => {
                let r = KeyRecord::forgotten(key, None, now, letter_recorded_at);
                self.records.insert(key.to_owned(), r);
                true
            }
        }
    }

    fn resolve(&mut self, key: &str, now: i64) {
        if let Some(r) = self.records.get_mut(key) {
            r.resolve(now);
        }
    }

    fn expire(&mut self, now: i64) -> Vec<String> {
        let mut gone: Vec<String> = self
            .records
            .values()
            .filter(|r| r.expired(now))
            .map(|r| r.key.clone())
            .collect();
        gone.sort();
        for k in &gone {
            self.records.remove(k);
        }
        gone
    }

    fn times(&self, out: &mut Vec<i64>) {
        for r in self.records.values() {
            out.extend(r.lease_until_ms);
            if r.in_doubt {
                out.extend(r.submit_at_ms.map(|t| t + SETTLE_MS));
            }
            if r.expires_at_ms != NEVER {
                out.push(r.expires_at_ms);
            }
        }
    }

    fn describe(&self, key: &str) -> String {
        match self.records.get(key) {
            None => format!("{key}: no record"),
            Some(r) => format!(
                "{key}: {} attempt {}{}{}{}",
                r.state.as_str(),
                r.attempt,
                if r.in_doubt { " in doubt" } else { "" },
                r.lease_until_ms
                    .map(|t| format!(" lease→{}", super::world::ts(t)))
                    .unwrap_or_default(),
                r.submit_at_ms
                    .map(|t| format!(" submit@{}", super::world::ts(t)))
                    .unwrap_or_default(),
            ),
        }
    }
}
