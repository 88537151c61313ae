//! How the `dlq` worker records dead letters: the row each one becomes, with the status and
//! in-doubt fact that the IdempotencyStore's view of its key implies, and the dead letters its
//! sweep makes of keys the store reports as stuck.
//!
//! The order of work per dead letter (the worker carries it out) is what keeps "nothing the
//! gateway answered `202` for disappears":
//! 1. read the key's state (`KeyUpdate::Status`) and decide the row's [`Recording`]: a key that
//!    had already ended is recorded `ended` (never `pending`: a later replay of it, after the
//!    store forgot the key, would otherwise run as a new signal); a key the store has no record
//!    of is recorded pending and in doubt;
//! 2. insert the row ([`NewDeadLetter::insert`]);
//! 3. only then mark the key dead, naming the row's time (`MarkDead { recorded_at_ms }`), and
//!    [`settle`] the row with the store's answer. A redelivery whose row exists repeats step 3
//!    (the store ignores it if an operator reopened the key since).
//!
//! A failure anywhere retries the message; the row is never lost to a store outage, and the key
//! is never dead without a row an operator can see.

use crate::dead_letters::{Status, SWEEP_QUEUE};
use crate::query::{Param, Query};
use base64::Engine as _;
use contracts::idempotency::{KeyStatus, Lifecycle, StuckKey, IN_DOUBT_NOTE};
use contracts::job::{DeadLetterReason, TradeJob};
use serde::{Deserialize, Serialize};

/// Who closes a dead letter recorded after its key had ended.
pub const RECORDER: &str = "dlq";

/// What the detail says of a key the store has no record of.
pub const NO_RECORD_NOTE: &str = "the idempotency store has no record of the key (expired, or never recorded), so it may have executed: a replay checks the ledger, and the store recreates the key in doubt so the order is looked up before anything is submitted";

/// The note of a dead letter whose key had already ended as `outcome`.
pub fn ended_note(outcome: &str) -> String {
    format!("the key had already ended as {outcome}; nothing to replay")
}

/// How a dead letter is recorded, from the store's view of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// [`Status::Pending`], or [`Status::Ended`] when the key had already ended.
    pub status: Status,
    pub in_doubt: bool,
    /// Appended to the detail; for an ended key also the row's resolution.
    pub note: Option<String>,
}

impl Recording {
    /// `key`: the store's answer (`None`: no record of the key).
    pub fn of(key: Option<&KeyStatus>) -> Self {
        let Some(k) = key else {
            return Self {
                status: Status::Pending,
                in_doubt: true,
                note: Some(NO_RECORD_NOTE.into()),
            };
        };
        match k.state {
            Lifecycle::Done(outcome) => Self {
                status: Status::Ended,
                in_doubt: false,
                note: Some(ended_note(outcome.as_str())),
            },
            Lifecycle::Accepted | Lifecycle::Submitting | Lifecycle::Dead => Self {
                status: Status::Pending,
                in_doubt: k.in_doubt,
                note: k.in_doubt.then(|| IN_DOUBT_NOTE.into()),
            },
        }
    }

    /// A dead letter with no key in the store (a trade event, an undecodable body).
    pub fn keyless() -> Self {
        Self {
            status: Status::Pending,
            in_doubt: false,
            note: None,
        }
    }
}

/// One dead letter to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeadLetter {
    /// The queue message's id, or the sweep's `sweep:<key>:<updated_at_ms>`: a redelivery or a
    /// repeated sweep inserts nothing.
    pub message_id: String,
    pub queue: String,
    pub idempotency_key: Option<String>,
    pub reason: String,
    pub detail: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub job: Option<TradeJob>,
    /// Base64 of a body that is not a job, kept so nothing is lost.
    pub raw: Option<String>,
    pub recording: Recording,
    pub created_at_ms: i64,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `detail; note`.
fn with_note(detail: &str, note: Option<&str>) -> String {
    match note {
        Some(n) if detail.is_empty() => n.to_owned(),
        Some(n) => format!("{detail}; {n}"),
        None => detail.to_owned(),
    }
}

impl NewDeadLetter {
    /// The detail as stored: the dead letter's own, plus the recording's note.
    pub fn stored_detail(&self) -> String {
        with_note(&self.detail, self.recording.note.as_deref())
    }

    /// `INSERT OR IGNORE` (by message id) returning the row as a [`RecordedRow`]; no row comes
    /// back when it existed already (then read it with `dead_letters::recorded_query`). A
    /// recording of an ended key closes the row at once, by [`RECORDER`], with its note.
    pub fn insert(&self) -> Query {
        let s = self.job.as_ref().map(|j| &j.signal);
        let ended = self.recording.status != Status::Pending;
        let text = |v: Option<String>| Param::from(v);
        Query::new(
            "INSERT OR IGNORE INTO dead_letters (message_id, queue, idempotency_key, reason, detail,
                attempts, last_error, exchange, symbol, action, job, raw, status, in_doubt,
                created_at_ms, resolved_at_ms, resolved_by, resolution)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
             RETURNING id, created_at_ms, status, in_doubt, detail",
            vec![
                self.message_id.as_str().into(),
                self.queue.as_str().into(),
                text(self.idempotency_key.clone()),
                self.reason.as_str().into(),
                self.stored_detail().into(),
                Param::Int(i64::from(self.attempts)),
                text(self.last_error.clone()),
                text(s.map(|s| s.exchange.as_str().to_owned())),
                text(s.map(|s| s.symbol.canonical())),
                text(s.map(|s| s.action.as_str().to_owned())),
                text(self.job.as_ref().map(|j| b64(&j.encode()))),
                text(self.raw.clone()),
                self.recording.status.as_str().into(),
                Param::Int(i64::from(self.recording.in_doubt)),
                Param::Int(self.created_at_ms),
                if ended {
                    Param::Int(self.created_at_ms)
                } else {
                    Param::Null
                },
                if ended {
                    RECORDER.into()
                } else {
                    Param::Null
                },
                if ended {
                    text(self.recording.note.clone())
                } else {
                    Param::Null
                },
            ],
        )
    }

    /// The dead letter the sweep makes of a stuck key: `unclaimed` when no delivery ever claimed
    /// it, else `abandoned`; its job kept for a replay; in doubt as the store says. The key is
    /// not marked dead (its delivery may still come; a replay of it re-sends the job and the
    /// store's claim keeps it to one order).
    pub fn from_stuck(stuck: &StuckKey, now_ms: i64) -> Self {
        let st = &stuck.status;
        let idle = human_duration(now_ms.saturating_sub(st.updated_at_ms));
        let (reason, what) = if st.attempts == 0 {
            (
                DeadLetterReason::Unclaimed,
                format!("accepted and never claimed for {idle}: its job may never have reached trade-execution"),
            )
        } else {
            (
                DeadLetterReason::Abandoned,
                format!(
                    "claimed {} time(s), then no live claim and no retry for {idle}",
                    st.attempts
                ),
            )
        };
        let mut detail = format!(
            "{what}. Found by the sweep; the key is not marked dead, so a late delivery still runs it once, and a replay re-sends the job (the store's claim keeps it to one order)"
        );
        let (job, raw) = match stuck.job.as_deref() {
            None => {
                detail.push_str("; the store kept no job for it");
                (None, None)
            }
            Some(b) => match crate::dead_letters::decode_job(b) {
                Ok(job) if job.idempotency_key == st.key => (Some(job), None),
                _ => {
                    detail.push_str("; the store's copy of the job does not decode as this key's job (kept raw)");
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .is_ok()
                        .then(|| b.to_owned());
                    (None, raw)
                }
            },
        };
        Self {
            message_id: sweep_message_id(&st.key, st.updated_at_ms),
            queue: SWEEP_QUEUE.into(),
            idempotency_key: Some(st.key.clone()),
            reason: reason.as_str().into(),
            detail,
            attempts: st.attempts,
            last_error: st.last_error.clone(),
            job,
            raw,
            recording: Recording::of(Some(st)),
            created_at_ms: now_ms,
        }
    }
}

/// The message id of the sweep's dead letter for a key last changed at `updated_at_ms`: the same
/// stuck state reported twice is one row; a key that changed and got stuck again is a new one.
pub fn sweep_message_id(key: &str, updated_at_ms: i64) -> String {
    format!("sweep:{key}:{updated_at_ms}")
}

/// `45 s`, `12 min`, `3 h 5 min`.
pub fn human_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3_599 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// A recorded row as the worker reads it back (`dead_letters::recorded_query`, or the insert's
/// `RETURNING`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRow {
    pub id: i64,
    pub created_at_ms: i64,
    pub status: String,
    #[serde(default, deserialize_with = "crate::dead_letters::sql_bool")]
    pub in_doubt: bool,
    #[serde(default)]
    pub detail: Option<String>,
}

impl RecordedRow {
    pub fn is_pending(&self) -> bool {
        self.status == Status::Pending.as_str()
    }
}

/// After `MarkDead`, the row as the store's answer implies: a pending row whose key turned out
/// to have ended becomes `ended`; one the store now calls in doubt (an attempt was inside its
/// lease when the key died, or the key is gone) gains the fact and its note. `None`: nothing to
/// change. Only a pending row moves, and each statement re-checks that it still applies.
pub fn settle(row: &RecordedRow, answer: Option<&KeyStatus>, now_ms: i64) -> Option<Query> {
    if !row.is_pending() {
        return None;
    }
    let now = Recording::of(answer);
    let note = now.note.clone().unwrap_or_default();
    let detail = with_note(row.detail.as_deref().unwrap_or_default(), Some(&note));
    if now.status == Status::Ended {
        return Some(Query::new(
            "UPDATE dead_letters SET status = ?1, resolved_at_ms = ?2, resolved_by = ?3,
                resolution = ?4, detail = ?5, in_doubt = 0 WHERE id = ?6 AND status = 'pending'",
            vec![
                Status::Ended.as_str().into(),
                Param::Int(now_ms),
                RECORDER.into(),
                note.into(),
                detail.into(),
                Param::Int(row.id),
            ],
        ));
    }
    if now.in_doubt && !row.in_doubt {
        return Some(Query::new(
            "UPDATE dead_letters SET in_doubt = 1, detail = ?1 WHERE id = ?2 AND in_doubt = 0 AND status = 'pending'",
            vec![detail.into(), Param::Int(row.id)],
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dead_letters::tests::job;
    use contracts::event::Outcome;

    fn status(state: Lifecycle, attempts: u32, in_doubt: bool) -> KeyStatus {
        KeyStatus {
            key: "k".into(),
            state,
            attempts,
            last_error: None,
            in_doubt,
            created_at_ms: 1_000,
            updated_at_ms: 2_000,
        }
    }

    fn letter(recording: Recording) -> NewDeadLetter {
        NewDeadLetter {
            message_id: "m1".into(),
            queue: "trade-execution-dlq".into(),
            idempotency_key: Some("k".into()),
            reason: "max_retries".into(),
            detail: "every retry failed".into(),
            attempts: 5,
            last_error: None,
            job: Some(job("k")),
            raw: None,
            recording,
            created_at_ms: 9_000,
        }
    }

    #[test]
    fn a_key_that_ended_is_recorded_ended_never_pending() {
        for (outcome, word) in [(Outcome::Filled, "filled"), (Outcome::Rejected, "rejected")] {
            let r = Recording::of(Some(&status(Lifecycle::Done(outcome), 1, false)));
            assert_eq!(r.status, Status::Ended);
            assert!(!r.in_doubt);
            assert_eq!(
                r.note.as_deref(),
                Some(format!("the key had already ended as {word}; nothing to replay").as_str())
            );
        }
        let q = letter(Recording::of(Some(&status(
            Lifecycle::Done(Outcome::Filled),
            1,
            false,
        ))))
        .insert();
        assert_eq!(q.params[12], Param::Text("ended".into()));
        assert_eq!(q.params[13], Param::Int(0));
        assert_eq!(q.params[15], Param::Int(9_000), "resolved when recorded");
        assert_eq!(q.params[16], Param::Text(RECORDER.into()));
        assert_eq!(
            q.params[17],
            Param::Text("the key had already ended as filled; nothing to replay".into())
        );
        assert_eq!(
            q.params[4],
            Param::Text(
                "every retry failed; the key had already ended as filled; nothing to replay".into()
            )
        );
    }

    #[test]
    fn a_key_the_store_forgot_is_pending_and_in_doubt() {
        let r = Recording::of(None);
        assert_eq!(r.status, Status::Pending);
        assert!(r.in_doubt);
        let q = letter(r).insert();
        assert_eq!(q.params[12], Param::Text("pending".into()));
        assert_eq!(q.params[13], Param::Int(1));
        assert_eq!(q.params[15], Param::Null);
        assert!(matches!(&q.params[4], Param::Text(d) if d.contains(NO_RECORD_NOTE)));
    }

    #[test]
    fn live_and_dead_keys_are_pending_in_doubt_as_the_store_says() {
        for state in [Lifecycle::Accepted, Lifecycle::Submitting, Lifecycle::Dead] {
            let plain = Recording::of(Some(&status(state, 2, false)));
            assert_eq!(
                plain,
                Recording {
                    status: Status::Pending,
                    in_doubt: false,
                    note: None
                }
            );
            let doubt = Recording::of(Some(&status(state, 2, true)));
            assert!(doubt.in_doubt);
            assert_eq!(
                doubt.note.as_deref(),
                Some(IN_DOUBT_NOTE),
                "the prose note stays"
            );
        }
        assert_eq!(Recording::keyless().status, Status::Pending);
        assert!(!Recording::keyless().in_doubt);
    }

    fn recorded(status: &str, in_doubt: bool) -> RecordedRow {
        RecordedRow {
            id: 7,
            created_at_ms: 9_000,
            status: status.into(),
            in_doubt,
            detail: Some("every retry failed".into()),
        }
    }

    #[test]
    fn mark_dead_answers_settle_the_pending_row() {
        // The key filled between the status read and the mark: the row ends.
        let filled = status(Lifecycle::Done(Outcome::Filled), 1, false);
        let q = settle(&recorded("pending", false), Some(&filled), 10_000).unwrap();
        assert!(q.sql.contains("SET status = ?1"));
        assert!(q.sql.contains("WHERE id = ?6 AND status = 'pending'"));
        assert_eq!(q.params[0], Param::Text("ended".into()));
        // An attempt was inside its lease when the key died: in doubt now.
        let doubt = status(Lifecycle::Dead, 1, true);
        let q = settle(&recorded("pending", false), Some(&doubt), 10_000).unwrap();
        assert!(q.sql.contains("SET in_doubt = 1"));
        assert!(matches!(&q.params[0], Param::Text(d) if d.ends_with(IN_DOUBT_NOTE)));
        // Already said, or nothing new: no write.
        assert_eq!(settle(&recorded("pending", true), Some(&doubt), 0), None);
        let dead = status(Lifecycle::Dead, 1, false);
        assert_eq!(settle(&recorded("pending", false), Some(&dead), 0), None);
        // An operator already acted on the row: it is left alone.
        for s in ["replayed", "discarded", "ended"] {
            assert_eq!(settle(&recorded(s, false), Some(&filled), 0), None);
        }
        // The store lost the key meanwhile: in doubt.
        assert!(settle(&recorded("pending", false), None, 0).is_some());
    }

    fn stuck(attempts: u32, in_doubt: bool, job_b64: Option<String>) -> StuckKey {
        let mut s = status(
            if attempts == 0 {
                Lifecycle::Accepted
            } else {
                Lifecycle::Submitting
            },
            attempts,
            in_doubt,
        );
        s.last_error = (attempts > 0).then(|| "timeout".into());
        StuckKey {
            status: s,
            job: job_b64,
        }
    }

    fn job_b64(key: &str) -> String {
        b64(&job(key).encode())
    }

    #[test]
    fn the_sweep_records_unclaimed_keys_with_their_job_without_marking_them_dead() {
        let d = NewDeadLetter::from_stuck(&stuck(0, false, Some(job_b64("k"))), 2_000 + 1_860_000);
        assert_eq!(d.reason, "unclaimed");
        assert_eq!(d.queue, SWEEP_QUEUE);
        assert_eq!(d.message_id, "sweep:k:2000");
        assert_eq!(d.message_id, sweep_message_id("k", 2_000));
        assert_eq!(d.attempts, 0);
        assert_eq!(d.job, Some(job("k")), "replayable");
        assert_eq!(d.raw, None);
        assert_eq!(d.recording.status, Status::Pending);
        assert!(!d.recording.in_doubt);
        assert!(
            d.detail
                .starts_with("accepted and never claimed for 31 min"),
            "{}",
            d.detail
        );
        assert!(d.detail.contains("not marked dead"));
        let q = d.insert();
        assert_eq!(q.params[0], Param::Text("sweep:k:2000".into()));
        assert_eq!(q.params[1], Param::Text("sweep".into()));
        assert_eq!(q.params[7], Param::Text("paper".into()));
        assert_eq!(q.params[8], Param::Text("BTCUSDT".into()));
        assert_eq!(q.params[10], Param::Text(job_b64("k")));
        // A repeat sweep of the same stuck state is the same row.
        let again = NewDeadLetter::from_stuck(&stuck(0, false, Some(job_b64("k"))), 9_999_999);
        assert_eq!(again.message_id, d.message_id);
        assert!(q.sql.starts_with("INSERT OR IGNORE"));
    }

    #[test]
    fn the_sweep_records_abandoned_keys_in_doubt_as_the_store_says() {
        let d = NewDeadLetter::from_stuck(&stuck(3, true, Some(job_b64("k"))), 2_000 + 45_000);
        assert_eq!(d.reason, "abandoned");
        assert_eq!(d.attempts, 3);
        assert_eq!(d.last_error.as_deref(), Some("timeout"));
        assert!(d.recording.in_doubt);
        assert!(d
            .detail
            .starts_with("claimed 3 time(s), then no live claim and no retry for 45 s"));
        assert!(d.stored_detail().ends_with(IN_DOUBT_NOTE));
        assert_eq!(d.insert().params[13], Param::Int(1));
    }

    #[test]
    fn a_swept_key_without_a_usable_job_keeps_what_there_is() {
        let none = NewDeadLetter::from_stuck(&stuck(0, false, None), 10_000);
        assert_eq!((none.job.clone(), none.raw.clone()), (None, None));
        assert!(none.detail.ends_with("the store kept no job for it"));
        // Another key's job, or bytes that are not a job: kept raw, not replayable.
        let other = NewDeadLetter::from_stuck(&stuck(0, false, Some(job_b64("other"))), 10_000);
        assert_eq!(other.job, None);
        assert_eq!(other.raw, Some(job_b64("other")));
        let junk = NewDeadLetter::from_stuck(&stuck(0, false, Some("AQID".into())), 10_000);
        assert_eq!(junk.raw.as_deref(), Some("AQID"));
        let not_b64 = NewDeadLetter::from_stuck(&stuck(0, false, Some("%%".into())), 10_000);
        assert_eq!(not_b64.raw, None);
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_duration(-5), "0 s");
        assert_eq!(human_duration(59_999), "59 s");
        assert_eq!(human_duration(1_800_000), "30 min");
        assert_eq!(human_duration(3 * 3_600_000 + 300_000), "3 h 5 min");
    }
}
