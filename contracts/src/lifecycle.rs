//! The lifecycle of one idempotency key, as a pure state machine: every transition the
//! `IdempotencyStore` object makes (intake, claim, the pre-submit renewal, complete, a failed
//! attempt, mark-dead, reopen, resolve, expiry, the stuck-key sweep) is a method here, with the
//! time passed in. The Durable Object only loads a [`KeyRecord`], calls one method and stores
//! the record back; the deterministic simulation (`engine::sim`) drives the same methods, so what
//! it proves is what runs.
//!
//! The rules that make "at most one order per signal" hold under real timing:
//! - **Fencing.** A claim hands out `attempt` as a token. Every later write of that attempt
//!   (`begin_submit`, `complete`, `attempt_failed`) names it and is refused once another attempt
//!   has taken the key over, so a slow attempt cannot overwrite a newer one's outcome.
//! - **The submit needs a fresh grant.** Immediately before it calls the exchange, an attempt
//!   renews its lease with [`KeyRecord::begin_submit`]; that notes the submit time, marks the key
//!   in doubt (an order may exist from now on) and re-checks the kill switch. A lease that ran
//!   out refuses the grant: an attempt past its deadline never submits.
//! - **In doubt waits for the order to be visible.** Nobody may look an in-doubt order up (and
//!   then resubmit) until [`SETTLE_MS`] after its submit began: longer than the attempt's call
//!   timeout plus the exchanges' receive windows, so an order accepted late is either visible or
//!   refused by the exchange as stale by then.
//! - **Nothing in doubt or dead is forgotten.** Such keys never expire; a dead key expires only
//!   once its dead letter is resolved, and a replay of a key the store no longer has comes back
//!   in doubt, so it reconciles before it may submit.

use crate::idempotency::{
    ClaimResponse, CompleteRequest, Fenced, IntakeRequest, IntakeResponse, KeyStatus, Lifecycle,
    SubmitGrant,
};
use serde::{Deserialize, Serialize};

/// How long a claim (or its pre-submit renewal) protects an attempt.
pub const CLAIM_LEASE_MS: i64 = 30_000;
/// One attempt's whole budget, from its claim: every exchange call and store write of the
/// attempt must end by then. Shorter than the lease, so an attempt that still holds its claim is
/// always inside its lease.
pub const ATTEMPT_DEADLINE_MS: i64 = 20_000;
/// After a submit began, the order is looked up (and maybe resubmitted) only this much later. The
/// signed request carries the time it was built (just before `begin_submit` returns) and the
/// exchanges refuse it once their receive window (5 s, sent with every signed call) has passed, so
/// by then the order either exists or never will; the rest is a margin for visibility after
/// acceptance and clock skew. A crashed attempt's key stays held for its whole lease anyway.
pub const SETTLE_MS: i64 = 15_000;
/// A busy key is retried this long after its lease or settle time ends, never at its exact end.
pub const BUSY_MARGIN_MS: i64 = 3_000;
/// Unfinished keys (not in doubt) outlive their TTL by this much, so a slow retry still finds its
/// claim.
pub const UNFINISHED_GRACE_MS: i64 = 6 * 86_400_000;
/// The TTL of a key recreated by a replay, or a resolved dead key, when it has none of its own.
pub const DEFAULT_TTL_MS: i64 = 86_400_000;
/// "Never expires": the largest integer a JavaScript number holds exactly (rows cross the runtime
/// as JS values).
pub const NEVER: i64 = 9_007_199_254_740_991;

/// Everything the store keeps about one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key: String,
    pub payload_hash: String,
    /// `fp_<hash>` of a windowed fingerprint key.
    pub fingerprint: Option<String>,
    /// The job's intake time: with the key, which signal this record is (None: not known, as
    /// for records of older gateways).
    #[serde(default)]
    pub received_at_ms: Option<i64>,
    pub state: Lifecycle,
    /// The answer replayed to repeats.
    pub status: u16,
    pub body: String,
    /// The encoded job (base64), kept until the key ends: the outbox re-sends it until the queue
    /// has it, and the sweep hands it to the DLQ if the key is stuck.
    pub job: Option<String>,
    /// The queue has the job (or a claim proved it).
    pub enqueued: bool,
    /// Claims so far; the current (or last) claim's fencing token.
    pub attempt: u32,
    pub lease_until_ms: Option<i64>,
    /// When the last submit began (its `begin_submit`).
    pub submit_at_ms: Option<i64>,
    /// An order may exist at the exchange and its outcome is unknown.
    pub in_doubt: bool,
    pub reopened_at_ms: Option<i64>,
    /// A dead key whose dead letter was discarded: it may expire again.
    pub resolved: bool,
    pub last_error: Option<String>,
    pub event: Option<String>,
    pub event_published: bool,
    pub ttl_ms: i64,
    pub created_at_ms: i64,
    /// Derived by [`KeyRecord::touch`] after every transition; the store deletes rows past it.
    pub expires_at_ms: i64,
    pub updated_at_ms: i64,
    /// When the sweep last reported this key as stuck (cleared by any transition).
    pub swept_at_ms: Option<i64>,
}

impl KeyRecord {
    /// A newly accepted signal.
    pub fn accepted(req: &IntakeRequest, now: i64) -> Self {
        let mut r = Self {
            key: req.key.clone(),
            payload_hash: req.payload_hash.clone(),
            fingerprint: req.fingerprint.as_ref().map(|f| f.fingerprint.clone()),
            received_at_ms: req.received_at_ms,
            state: Lifecycle::Accepted,
            status: req.status,
            body: req.body.clone(),
            job: Some(req.job.clone()),
            enqueued: false,
            attempt: 0,
            lease_until_ms: None,
            submit_at_ms: None,
            in_doubt: false,
            reopened_at_ms: None,
            resolved: false,
            last_error: None,
            event: None,
            event_published: false,
            ttl_ms: i64::from(req.ttl_seconds).saturating_mul(1000),
            created_at_ms: now,
            expires_at_ms: 0,
            updated_at_ms: now,
            swept_at_ms: None,
        };
        r.touch(now);
        r
    }

    /// What a repeat of `req` gets when this record (found by key, or by fingerprint within its
    /// window) is the same signal.
    pub fn replay_to(&self, req: &IntakeRequest) -> IntakeResponse {
        if self.payload_hash == req.payload_hash {
            IntakeResponse::Replay {
                status: self.status,
                body: self.body.clone(),
            }
        } else {
            IntakeResponse::Conflict
        }
    }

    /// Whether a call naming the signal received at `received_at_ms` is about this record's
    /// signal: yes unless both times are known and differ (a key reused after its TTL).
    pub fn is_signal(&self, received_at_ms: Option<i64>) -> bool {
        match (self.received_at_ms, received_at_ms) {
            (Some(ours), Some(theirs)) => ours == theirs,
            _ => true,
        }
    }

    /// The record after a change: updated time, expiry, and no pending sweep report.
    fn touch(&mut self, now: i64) {
        self.updated_at_ms = now;
        self.swept_at_ms = None;
        let ttl = if self.ttl_ms > 0 {
            self.ttl_ms
        } else {
            DEFAULT_TTL_MS
        };
        self.expires_at_ms = match self.state {
            Lifecycle::Done(_) => now.saturating_add(ttl),
            Lifecycle::Dead if self.resolved => now.saturating_add(ttl),
            Lifecycle::Dead => NEVER,
            _ if self.in_doubt => NEVER,
            _ => self
                .created_at_ms
                .saturating_add(ttl)
                .saturating_add(UNFINISHED_GRACE_MS)
                .max(now.saturating_add(ttl)),
        };
    }

    /// Until when an in-doubt order may still be on its way to visibility.
    fn settle_until(&self) -> Option<i64> {
        self.submit_at_ms
            .filter(|_| self.in_doubt)
            .map(|t| t.saturating_add(SETTLE_MS))
    }

    /// May this delivery submit now? See [`ClaimResponse`].
    pub fn claim(&mut self, now: i64, kill_switch: bool) -> ClaimResponse {
        match self.state {
            Lifecycle::Done(outcome) => {
                return ClaimResponse::Done {
                    outcome,
                    event: self.event.clone(),
                    event_published: self.event_published,
                }
            }
            Lifecycle::Dead => return ClaimResponse::Dead,
            Lifecycle::Accepted | Lifecycle::Submitting => {}
        }
        if kill_switch {
            return ClaimResponse::KillSwitch;
        }
        let held = match self.state {
            Lifecycle::Submitting => self.lease_until_ms.filter(|&t| t > now),
            _ => None,
        };
        if let Some(until) = held.max(self.settle_until().filter(|&t| t > now)) {
            return ClaimResponse::Busy {
                retry_after_seconds: busy_seconds(until - now),
            };
        }
        self.attempt += 1;
        self.state = Lifecycle::Submitting;
        let lease_until_ms = now.saturating_add(CLAIM_LEASE_MS);
        self.lease_until_ms = Some(lease_until_ms);
        // A claim proves the queue delivered the job.
        self.enqueued = true;
        self.touch(now);
        ClaimResponse::Claimed {
            attempt: self.attempt,
            lease_until_ms,
            in_doubt: self.in_doubt,
            submitted_at_ms: self.submit_at_ms.filter(|_| self.in_doubt),
            replayed_at_ms: self.reopened_at_ms,
        }
    }

    fn holds(&self, attempt: u32, now: i64) -> Result<(), String> {
        if self.state != Lifecycle::Submitting {
            return Err(format!("the key is {}", self.state.as_str()));
        }
        if self.attempt != attempt {
            return Err(format!(
                "attempt {} took the key over from attempt {attempt}",
                self.attempt
            ));
        }
        if self.lease_until_ms.is_none_or(|t| t <= now) {
            return Err("the claim's lease ran out".into());
        }
        Ok(())
    }

    /// The renewal immediately before a submit.
    pub fn begin_submit(&mut self, attempt: u32, now: i64, kill_switch: bool) -> SubmitGrant {
        if let Err(reason) = self.holds(attempt, now) {
            return SubmitGrant::Stale { reason };
        }
        if kill_switch {
            return SubmitGrant::KillSwitch;
        }
        let lease_until_ms = now.saturating_add(CLAIM_LEASE_MS);
        self.lease_until_ms = Some(lease_until_ms);
        self.submit_at_ms = Some(now);
        self.in_doubt = true;
        self.touch(now);
        SubmitGrant::Granted { lease_until_ms }
    }

    /// The attempt's outcome. Accepted from the attempt that holds the key, even past its lease
    /// (nobody took over, and the outcome is real), and from the attempt whose key was marked
    /// dead under it (an order it placed must not be lost).
    pub fn complete(&mut self, req: &CompleteRequest, now: i64) -> Fenced {
        let own = self.attempt == req.attempt;
        match self.state {
            Lifecycle::Done(o) if own && o == req.outcome => return Fenced::Applied,
            Lifecycle::Submitting | Lifecycle::Dead if own => {}
            _ => return Fenced::Stale,
        }
        self.state = Lifecycle::Done(req.outcome);
        self.job = None;
        self.event = Some(req.event.clone());
        self.event_published = false;
        self.lease_until_ms = None;
        self.in_doubt = false;
        self.touch(now);
        Fenced::Applied
    }

    /// An attempt ended without an outcome. See [`crate::idempotency::AttemptFailedRequest`].
    pub fn attempt_failed(
        &mut self,
        attempt: u32,
        error: &str,
        released: bool,
        now: i64,
    ) -> Fenced {
        if self.state != Lifecycle::Submitting || self.attempt != attempt {
            return Fenced::Stale;
        }
        self.state = Lifecycle::Accepted;
        self.lease_until_ms = None;
        self.last_error = Some(error.to_owned());
        if released {
            self.in_doubt = false;
        }
        self.touch(now);
        Fenced::Applied
    }

    /// The trade event was published.
    pub fn event_published(&mut self, now: i64) {
        if matches!(self.state, Lifecycle::Done(_)) && !self.event_published {
            self.event_published = true;
            self.touch(now);
        }
    }

    /// The key's dead letter is recorded at `recorded_at_ms`. An ended key stays ended (a job
    /// that filled but whose event kept failing must not become replayable), and a key reopened
    /// after that record was written stays open (a redelivered dead letter must not undo a
    /// replay).
    pub fn mark_dead(&mut self, reason: &str, recorded_at_ms: i64, now: i64) {
        let reopened_since = self.reopened_at_ms.is_some_and(|t| t > recorded_at_ms);
        if !matches!(self.state, Lifecycle::Accepted | Lifecycle::Submitting) || reopened_since {
            return;
        }
        // An attempt still inside its lease may be submitting right now: whatever it does, the
        // key must be treated as holding an order.
        if self.lease_until_ms.is_some_and(|t| t > now) {
            self.in_doubt = true;
        }
        self.state = Lifecycle::Dead;
        self.lease_until_ms = None;
        self.resolved = false;
        if self.last_error.is_none() {
            self.last_error = Some(reason.to_owned());
        }
        self.touch(now);
    }

    /// An operator replays the key's dead letter. A dead key becomes claimable again (still in
    /// doubt if it was); an ended one stays ended, so the replay is acknowledged without a second
    /// order. A key the store forgot is recreated by [`KeyRecord::forgotten`].
    pub fn reopen(&mut self, now: i64, letter_recorded_at_ms: Option<i64>) {
        if self.state == Lifecycle::Dead {
            self.state = Lifecycle::Accepted;
            self.reopened_at_ms = Some(reopen_time(now, letter_recorded_at_ms));
            self.resolved = false;
            self.touch(now);
        }
    }

    /// A replay of a key the store has no record of: it may have filled long ago, so it comes
    /// back in doubt and its first claim reconciles before anything is submitted.
    pub fn forgotten(
        key: &str,
        received_at_ms: Option<i64>,
        now: i64,
        letter_recorded_at_ms: Option<i64>,
    ) -> Self {
        let mut r = Self {
            key: key.to_owned(),
            payload_hash: String::new(),
            fingerprint: None,
            received_at_ms,
            state: Lifecycle::Accepted,
            status: 0,
            body: String::new(),
            job: None,
            enqueued: true,
            attempt: 0,
            lease_until_ms: None,
            submit_at_ms: None,
            in_doubt: true,
            reopened_at_ms: Some(reopen_time(now, letter_recorded_at_ms)),
            resolved: false,
            last_error: None,
            event: None,
            event_published: false,
            ttl_ms: DEFAULT_TTL_MS,
            created_at_ms: now,
            expires_at_ms: 0,
            updated_at_ms: now,
            swept_at_ms: None,
        };
        r.touch(now);
        r
    }

    /// The key's dead letter was discarded: a dead key may now expire (still dead until then,
    /// so a late delivery does not run it).
    pub fn resolve(&mut self, now: i64) {
        if self.state == Lifecycle::Dead && !self.resolved {
            self.resolved = true;
            self.touch(now);
        }
    }

    /// Past its expiry: the store may delete it.
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at_ms <= now
    }

    /// Accepted or abandoned (lease over, not ended, not dead) with nothing happening to it for
    /// `older_than_ms`, and not reported within that long either: a report the DLQ could not
    /// record is made again (its dead letter is keyed by the key and `updated_at_ms`, so a
    /// repeat records nothing twice).
    pub fn stuck(&self, now: i64, older_than_ms: i64) -> bool {
        let since = now.saturating_sub(older_than_ms);
        matches!(self.state, Lifecycle::Accepted | Lifecycle::Submitting)
            && self.swept_at_ms.is_none_or(|t| t <= since)
            && self.lease_until_ms.is_none_or(|t| t <= now)
            && self.updated_at_ms <= since
    }

    /// Reported by the sweep.
    pub fn swept(&mut self, now: i64) {
        self.swept_at_ms = Some(now);
    }

    pub fn status(&self) -> KeyStatus {
        KeyStatus {
            key: self.key.clone(),
            state: self.state,
            attempts: self.attempt,
            last_error: self.last_error.clone(),
            in_doubt: self.in_doubt,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        }
    }
}

/// When a reopen counts as made: after the letter it replays was recorded, so that letter's
/// redelivered `MarkDead` (which names its row's time) cannot undo it, even in the same
/// millisecond or with the store's clock behind the DLQ worker's.
fn reopen_time(now: i64, letter_recorded_at_ms: Option<i64>) -> i64 {
    letter_recorded_at_ms.map_or(now, |t| now.max(t.saturating_add(1)))
}

/// Whole seconds to wait past `ms`, with the margin.
fn busy_seconds(ms: i64) -> u32 {
    let total = ms.saturating_add(BUSY_MARGIN_MS).max(0);
    u32::try_from(total.saturating_add(999) / 1000).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Outcome;
    use crate::idempotency::FingerprintWindow;
    use proptest::prelude::*;

    fn intake(key: &str) -> IntakeRequest {
        IntakeRequest {
            key: key.into(),
            payload_hash: "h".into(),
            job: "am9i".into(),
            status: 202,
            body: "{}".into(),
            ttl_seconds: 86_400,
            fingerprint: None,
            received_at_ms: Some(7),
        }
    }

    fn claimed(r: &mut KeyRecord, now: i64) -> (u32, bool) {
        match r.claim(now, false) {
            ClaimResponse::Claimed {
                attempt, in_doubt, ..
            } => (attempt, in_doubt),
            other => panic!("expected a claim, got {other:?}"),
        }
    }

    fn complete(attempt: u32) -> CompleteRequest {
        CompleteRequest {
            key: "k".into(),
            attempt,
            outcome: Outcome::Filled,
            event: "ZQ==".into(),
        }
    }

    #[test]
    fn a_stale_attempt_cannot_submit_or_complete() {
        let mut r = KeyRecord::accepted(&intake("k"), 0);
        let (a1, _) = claimed(&mut r, 0);
        // Attempt 1 crashed before its submit; its lease runs out and attempt 2 takes over.
        let (a2, in_doubt) = claimed(&mut r, CLAIM_LEASE_MS + 1);
        assert_eq!((a1, a2, in_doubt), (1, 2, false));
        let now = CLAIM_LEASE_MS + 2;
        assert!(matches!(
            r.begin_submit(a1, now, false),
            SubmitGrant::Stale { .. }
        ));
        assert_eq!(r.complete(&complete(a1), now), Fenced::Stale);
        assert_eq!(r.attempt_failed(a1, "late", true, now), Fenced::Stale);
        assert!(matches!(
            r.begin_submit(a2, now, false),
            SubmitGrant::Granted { .. }
        ));
        assert_eq!(r.complete(&complete(a2), now + 1), Fenced::Applied);
    }

    #[test]
    fn an_expired_lease_refuses_the_submit() {
        let mut r = KeyRecord::accepted(&intake("k"), 0);
        let (a, _) = claimed(&mut r, 0);
        assert!(matches!(
            r.begin_submit(a, CLAIM_LEASE_MS, false),
            SubmitGrant::Stale { .. }
        ));
    }

    #[test]
    fn an_in_doubt_key_waits_for_the_order_to_settle() {
        let mut r = KeyRecord::accepted(&intake("k"), 0);
        let (a, _) = claimed(&mut r, 0);
        assert!(matches!(
            r.begin_submit(a, 1_000, false),
            SubmitGrant::Granted { .. }
        ));
        // The submit timed out: unknown outcome, released = false.
        assert_eq!(
            r.attempt_failed(a, "timeout", false, 11_000),
            Fenced::Applied
        );
        // Not before the settle time, and then with a margin.
        match r.claim(12_000, false) {
            ClaimResponse::Busy {
                retry_after_seconds,
            } => {
                let back = 12_000 + i64::from(retry_after_seconds) * 1000;
                assert!(back >= 1_000 + SETTLE_MS + BUSY_MARGIN_MS);
            }
            other => panic!("{other:?}"),
        }
        let (_, in_doubt) = claimed(&mut r, 1_000 + SETTLE_MS);
        assert!(in_doubt);
    }

    #[test]
    fn busy_is_never_timed_to_the_exact_end_of_the_lease() {
        let mut r = KeyRecord::accepted(&intake("k"), 0);
        claimed(&mut r, 0);
        let ClaimResponse::Busy {
            retry_after_seconds,
        } = r.claim(29_999, false)
        else {
            panic!("expected busy");
        };
        assert!(29_999 + i64::from(retry_after_seconds) * 1000 >= CLAIM_LEASE_MS + BUSY_MARGIN_MS);
    }

    #[test]
    fn kill_switch_refuses_claims_and_submits_but_not_ended_keys() {
        let mut r = KeyRecord::accepted(&intake("k"), 0);
        assert_eq!(r.claim(0, true), ClaimResponse::KillSwitch);
        assert_eq!(r.state, Lifecycle::Accepted);
        let (a, _) = claimed(&mut r, 1);
        assert_eq!(r.begin_submit(a, 2, true), SubmitGrant::KillSwitch);
        assert!(!r.in_doubt, "a refused submit placed nothing");
        r.complete(&complete(a), 3);
        assert!(matches!(r.claim(4, true), ClaimResponse::Done { .. }));
    }

    #[test]
    fn dead_and_in_doubt_keys_never_expire_until_resolved() {
        let mut r = KeyRecord::accepted(&intake("k"), 0);
        let (a, _) = claimed(&mut r, 0);
        r.begin_submit(a, 1, false);
        assert!(!r.expired(NEVER - 1), "in doubt");
        r.mark_dead("max_retries", 2, 40_000);
        assert_eq!(r.state, Lifecycle::Dead);
        assert!(r.in_doubt);
        assert!(!r.expired(NEVER - 1), "dead and unresolved");
        r.resolve(50_000);
        assert!(r.expired(50_000 + DEFAULT_TTL_MS));
        assert_eq!(r.state, Lifecycle::Dead);
    }

    #[test]
    fn a_redelivered_dead_letter_does_not_undo_a_replay() {
        let mut r = KeyRecord::accepted(&intake("k"), 0);
        r.mark_dead("stale", 10, 10);
        r.reopen(20, Some(10));
        r.mark_dead("stale", 10, 30);
        assert_eq!(r.state, Lifecycle::Accepted);
        // A dead letter written after the reopen does apply.
        r.mark_dead("stale", 40, 40);
        assert_eq!(r.state, Lifecycle::Dead);
    }

    #[test]
    fn a_replay_in_the_letters_own_millisecond_is_not_undone_by_its_redelivery() {
        let mut r = KeyRecord::accepted(&intake("k"), 0);
        r.mark_dead("stale", 10, 10);
        // The replay lands in the same millisecond as the letter's row (or the store's clock
        // runs behind the DLQ worker's): it still counts as after the letter.
        r.reopen(10, Some(10));
        r.mark_dead("stale", 10, 11);
        assert_eq!(r.state, Lifecycle::Accepted);
    }

    #[test]
    fn another_signal_under_a_reused_key_is_told_apart() {
        let r = KeyRecord::accepted(&intake("k"), 0);
        assert!(r.is_signal(Some(7)));
        assert!(
            r.is_signal(None),
            "callers that do not know the time are not refused"
        );
        assert!(!r.is_signal(Some(8)));
    }

    #[test]
    fn a_filled_key_never_becomes_dead_or_replayable() {
        let mut r = KeyRecord::accepted(&intake("k"), 0);
        let (a, _) = claimed(&mut r, 0);
        r.complete(&complete(a), 1);
        r.mark_dead("max_retries", 2, 2);
        r.reopen(3, None);
        assert_eq!(r.state, Lifecycle::Done(Outcome::Filled));
    }

    #[test]
    fn a_forgotten_key_replayed_reconciles_first() {
        let mut r = KeyRecord::forgotten("k", None, 0, None);
        let (_, in_doubt) = claimed(&mut r, 1);
        assert!(in_doubt);
    }

    #[test]
    fn an_attempt_whose_key_died_under_it_still_records_its_order() {
        let mut r = KeyRecord::accepted(&intake("k"), 0);
        let (a, _) = claimed(&mut r, 0);
        r.begin_submit(a, 1, false);
        r.mark_dead("max_retries", 2, 2);
        assert_eq!(r.complete(&complete(a), 3), Fenced::Applied);
        assert_eq!(r.state, Lifecycle::Done(Outcome::Filled));
    }

    #[test]
    fn sweep_reports_unclaimed_keys_once_per_period() {
        let mut r = KeyRecord::accepted(&intake("k"), 0);
        assert!(!r.stuck(1_000, 600_000));
        assert!(r.stuck(600_000, 600_000));
        r.swept(600_000);
        assert!(!r.stuck(900_000, 600_000));
        assert!(r.stuck(1_200_000, 600_000), "reported again if still stuck");
        claimed(&mut r, 900_000);
        assert!(!r.stuck(900_001, 1), "a live lease is not stuck");
    }

    #[test]
    fn windowed_records_keep_their_fingerprint() {
        let mut req = intake("fp_x-1");
        req.fingerprint = Some(FingerprintWindow {
            fingerprint: "fp_x".into(),
            window_ms: 60_000,
        });
        assert_eq!(
            KeyRecord::accepted(&req, 0).fingerprint.as_deref(),
            Some("fp_x")
        );
    }

    proptest! {
        /// Whatever the sequence of store calls and times, at most one attempt is ever granted a
        /// submit while another grant's lease is live, and a granted-then-unknown key is never
        /// claimed without `in_doubt` before it resolves.
        #[test]
        fn grants_never_overlap(ops in proptest::collection::vec((0u8..8, 0i64..40_000, any::<bool>()), 1..60)) {
            let mut r = KeyRecord::accepted(&intake("k"), 0);
            let mut now = 0i64;
            let mut attempts: Vec<u32> = vec![];
            let mut live_grant: Option<(u32, i64)> = None;
            let mut order_may_exist = false;
            for (op, dt, flag) in ops {
                now = now.saturating_add(dt);
                match op {
                    0 | 1 => if let ClaimResponse::Claimed { attempt, in_doubt, .. } = r.claim(now, false) {
                        prop_assert!(in_doubt || !order_may_exist, "claimed without in_doubt while an order may exist");
                        attempts.push(attempt);
                    },
                    2 | 3 => if let Some(&a) = attempts.last() {
                        let a = if flag && a > 1 { a - 1 } else { a };
                        if let SubmitGrant::Granted { lease_until_ms } = r.begin_submit(a, now, false) {
                            if let Some((other, until)) = live_grant {
                                prop_assert!(other == a || until <= now, "two live grants");
                            }
                            live_grant = Some((a, lease_until_ms));
                            order_may_exist = true;
                        }
                    },
                    4 => if let Some(&a) = attempts.last() {
                        if r.complete(&complete(a), now) == Fenced::Applied { order_may_exist = false; live_grant = None; }
                    },
                    5 => if let Some(&a) = attempts.last() {
                        // `released` only when no order can exist.
                        let released = flag && !order_may_exist;
                        if r.attempt_failed(a, "e", released, now) == Fenced::Applied { live_grant = None; }
                    },
                    6 => r.mark_dead("r", now, now),
                    _ => r.reopen(now, None),
                }
                prop_assert!(!(order_may_exist && r.expired(now) && !matches!(r.state, Lifecycle::Done(_))), "an in-doubt key expired");
            }
        }
    }
}
