//! `IdempotencyStore`: the SQLite Durable Object that guards exactly-once.
//!
//! One object per shard of keys. For each key it keeps the payload hash, the answer given to the
//! sender, the lifecycle state, the attempt count and the job itself until the queue has it. Record
//! and enqueue form an outbox: the row is written before the queue send, and the alarm re-sends any
//! job whose send failed, so a `202` is never lost. The same alarm deletes keys past their TTL.

use base64::Engine as _;
use contracts::event::Outcome;
use contracts::idempotency::{
    ClaimRequest, ClaimResponse, CompleteRequest, IntakeRequest, IntakeResponse, KeyStatus,
    KeyUpdate, Lifecycle, CLAIM_LEASE_MS,
};
use runtime::{bytes, now_ms};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage,
    SqlStorageValue as V, State,
};

/// Queue the gateway produces to (`trade-execution`).
pub const TRADE_QUEUE: &str = "TRADE_QUEUE";
/// The outbox alarm runs this soon after a job is recorded, and again while any job is unsent or
/// its send unmarked: it marks sent jobs and re-sends a job whose send failed or never ran (the
/// object died first), so such a job is late by seconds, not minutes.
const OUTBOX_RETRY_MS: i64 = 2_000;
/// Unfinished keys outlive their TTL by this much, so a slow retry still finds its claim.
const UNFINISHED_GRACE_MS: i64 = 6 * 86_400_000;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS keys (
    key TEXT PRIMARY KEY,
    payload_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    job TEXT,
    enqueued INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_at INTEGER,
    in_doubt INTEGER NOT NULL DEFAULT 0,
    reopened_at INTEGER,
    last_error TEXT,
    event TEXT,
    event_published INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_expiry ON keys (expires_at);
CREATE INDEX IF NOT EXISTS keys_outbox ON keys (enqueued) WHERE enqueued = 0;";

#[durable_object]
pub struct IdempotencyStore {
    state: State,
    env: Env,
    sql: SqlStorage,
    /// The alarm time this object last set (epoch ms), so an intake sets one only when none is
    /// due soon enough. `None` after a start, when the object does not know its alarm: the
    /// first intake sets one, which may replace one due sooner by less than
    /// [`OUTBOX_RETRY_MS`] (an expiry alarm it replaces is set again by the alarm itself).
    alarm_at: Cell<Option<i64>>,
    /// Keys whose job the queue has, not yet marked in the table. The outbox alarm, due within
    /// [`OUTBOX_RETRY_MS`] of every intake, marks them in one statement per 64 (a claim marks
    /// its own key too), which keeps that write off the request path; if the object is evicted
    /// first, the alarm re-sends those jobs and the consumer's claim drops the duplicates.
    sent: Rc<RefCell<Vec<String>>>,
}

#[derive(Deserialize)]
struct Existing {
    payload_hash: String,
    status: i64,
    body: String,
}

#[derive(Deserialize)]
struct ClaimRow {
    state: String,
    reopened_at: Option<i64>,
    attempts: i64,
    claimed_at: Option<i64>,
    event: Option<String>,
    event_published: i64,
}

#[derive(Deserialize)]
struct StatusRow {
    state: String,
    attempts: i64,
    last_error: Option<String>,
    in_doubt: i64,
}

#[derive(Deserialize)]
struct OutboxRow {
    key: String,
    job: String,
    created_at: i64,
}

#[derive(Deserialize)]
struct NextExpiry {
    next: Option<i64>,
}

impl DurableObject for IdempotencyStore {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        if let Err(e) = sql.exec(SCHEMA, None) {
            // Every later call fails with a clear error; the gateway answers 503.
            worker::console_error!("idempotency store schema: {e}");
        }
        Self {
            state,
            env,
            sql,
            alarm_at: Cell::new(None),
            sent: Rc::new(RefCell::new(Vec::new())),
        }
    }

    /// Callers use [`IdempotencyStore::operate`]; a fetch is answered with where to go.
    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error("this object is called over RPC: operate(op, json)", 404)
    }

    async fn alarm(&self) -> Result<Response> {
        // A run alarm is gone unless set again (a failed run is retried by the runtime).
        self.alarm_at.set(None);
        let now = now_ms();
        self.flush_sent()?;
        self.sql.exec(
            "DELETE FROM keys WHERE (expires_at <= ? AND state NOT IN ('accepted','submitting'))
                OR expires_at <= ?",
            vec![V::from(now), V::from(now - UNFINISHED_GRACE_MS)],
        )?;
        // Every job still unmarked after the flush: a failed or never-run send, or a first
        // send too recent to judge (in flight, or done after the flush above).
        let unmarked: Vec<OutboxRow> = self
            .sql
            .exec(
                "SELECT key, job, created_at FROM keys WHERE enqueued = 0 AND job IS NOT NULL",
                None,
            )?
            .to_array()?;
        let mut waiting = false;
        for row in unmarked {
            if row.created_at > now - OUTBOX_RETRY_MS / 2 {
                waiting = true;
            } else if self.send(&row.key, &row.job).await {
                tracing::info!(idempotency_key = %row.key, "outbox re-sent job");
            } else {
                waiting = true;
            }
        }
        self.flush_sent()?;
        if waiting {
            self.ensure_alarm(now + OUTBOX_RETRY_MS)?;
        } else {
            self.schedule_expiry()?;
        }
        Response::ok("")
    }
}

#[wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
impl IdempotencyStore {
    /// The object's one entry point, called over JS RPC as `stub.operate(op, json)` and
    /// resolving to the answer's JSON; a refusal or failure rejects with its reason. Not a
    /// fetch: that builds a Request, a Response, their headers and body streams on both sides
    /// of every call, runtime objects whose destruction is most of the collector's time under
    /// load (`perf`), and those collections stall every request in flight. Synchronous: every
    /// operation is SQL, which the runtime runs synchronously, and an answer that is a value
    /// rather than a promise spares the runtime a promise and its events per call.
    pub fn operate(&self, op: String, body: String) -> std::result::Result<String, JsValue> {
        self.dispatch(&op, &body)
            .map_err(|e| js_sys::Error::new(&e).into())
    }
}

impl IdempotencyStore {
    fn dispatch(&self, op: &str, body: &str) -> std::result::Result<String, String> {
        fn parse<'a, T: Deserialize<'a>>(
            op: &str,
            body: &'a str,
        ) -> std::result::Result<T, String> {
            serde_json::from_str(body).map_err(|e| format!("bad {op} body: {e}"))
        }
        fn answer<T: Serialize>(op: &str, v: Result<T>) -> std::result::Result<String, String> {
            v.map_err(|e| format!("{op}: {e}"))
                .and_then(|v| serde_json::to_string(&v).map_err(|e| format!("{op}: {e}")))
        }
        match op {
            "intake" => answer(op, self.intake(parse(op, body)?)),
            "claim" => answer(op, self.claim(parse(op, body)?)),
            "complete" => answer(
                op,
                self.complete(parse(op, body)?)
                    .map(|()| serde_json::json!({})),
            ),
            "update" => answer(op, self.update(parse(op, body)?)),
            _ => Err(format!("no such operation {op:?}")),
        }
    }

    fn intake(&self, req: IntakeRequest) -> Result<IntakeResponse> {
        let now = now_ms();
        let expires_at = now + i64::from(req.ttl_seconds) * 1000;
        // Insert first: the common case (a new key) costs one statement. No await between this
        // and the read below: the object's input gate makes them atomic, so concurrent
        // duplicates see the first row.
        let inserted = self
            .sql
            .exec(
                "INSERT INTO keys (key, payload_hash, state, status, body, job, created_at, expires_at, updated_at)
                 VALUES (?, ?, 'accepted', ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (key) DO NOTHING",
                vec![
                    V::from(req.key.as_str()),
                    V::from(req.payload_hash.as_str()),
                    V::from(i64::from(req.status)),
                    V::from(req.body.as_str()),
                    V::from(req.job.as_str()),
                    V::from(now),
                    V::from(expires_at),
                    V::from(now),
                ],
            )?
            .rows_written();
        if inserted == 0 {
            let existing: Vec<Existing> = self
                .sql
                .exec(
                    "SELECT payload_hash, status, body FROM keys WHERE key = ?",
                    vec![V::from(req.key.as_str())],
                )?
                .to_array()?;
            let Some(e) = existing.into_iter().next() else {
                return Err(worker::Error::RustError(
                    "key conflicted but is not readable".into(),
                ));
            };
            return Ok(if e.payload_hash == req.payload_hash {
                IntakeResponse::Replay {
                    status: e.status as u16,
                    body: e.body,
                }
            } else {
                IntakeResponse::Conflict
            });
        }
        // Test-only fault (var absent in production): the first send of `fault-outbox-*` keys
        // fails, so the alarm's re-send is exercised end to end.
        let injected = req.key.starts_with("fault-outbox-")
            && self
                .env
                .var(crate::webhook::FAULTS_VAR)
                .is_ok_and(|v| v.to_string().contains("outbox_send"));
        // The row is the outbox: once it is written (the object's output gate holds the answer
        // until it is durable), delivery is guaranteed. So the answer does not wait for the
        // queue: the send runs right after it, and the outbox alarm, due within
        // OUTBOX_RETRY_MS, marks it sent or re-sends it if it failed or never ran.
        self.ensure_alarm(now + OUTBOX_RETRY_MS)?;
        if !injected {
            let (key, job) = (req.key.clone(), req.job.clone());
            let (env, sent) = (self.env.clone(), self.sent.clone());
            self.state.wait_until(async move {
                Self::send_with(&env, &sent, &key, &job).await;
            });
        }
        Ok(IntakeResponse::Recorded)
    }

    /// Sends a recorded job to the queue; true once the queue has it.
    async fn send(&self, key: &str, job_b64: &str) -> bool {
        Self::send_with(&self.env, &self.sent, key, job_b64).await
    }

    /// [`Self::send`] without `&self`, for the send that outlives the request.
    async fn send_with(
        env: &Env,
        sent: &Rc<RefCell<Vec<String>>>,
        key: &str,
        job_b64: &str,
    ) -> bool {
        let job = match base64::engine::general_purpose::STANDARD.decode(job_b64) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(idempotency_key = %key, error = %e, "outbox job is not base64");
                return false;
            }
        };
        let delivered = match env.queue(TRADE_QUEUE) {
            Ok(q) => q.send_raw(bytes::message(&job)).await,
            Err(e) => Err(e),
        };
        match delivered {
            Ok(()) => {
                sent.borrow_mut().push(key.to_owned());
                true
            }
            Err(e) => {
                tracing::warn!(idempotency_key = %key, error = %e, "queue send failed; the outbox alarm will retry");
                false
            }
        }
    }

    /// Marks the jobs in [`Self::sent`] as enqueued and drops their stored copy.
    fn flush_sent(&self) -> Result<()> {
        let keys = std::mem::take(&mut *self.sent.borrow_mut());
        let now = now_ms();
        // SQLite in a Durable Object binds at most 100 parameters per statement.
        for chunk in keys.chunks(64) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut params = vec![V::from(now)];
            params.extend(chunk.iter().map(|k| V::from(k.as_str())));
            self.sql.exec(
                &format!(
                    "UPDATE keys SET enqueued = 1, job = NULL, updated_at = ? WHERE key IN ({marks})"
                ),
                params,
            )?;
        }
        Ok(())
    }

    fn claim(&self, req: ClaimRequest) -> Result<ClaimResponse> {
        let rows: Vec<ClaimRow> = self
            .sql
            .exec(
                "SELECT state, attempts, claimed_at, reopened_at, event, event_published FROM keys WHERE key = ?",
                vec![V::from(req.key.as_str())],
            )?
            .to_array()?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(ClaimResponse::Unknown);
        };
        let now = now_ms();
        let take = |this: &Self| -> Result<u32> {
            this.sql.exec(
                // A claim proves the queue delivered the job: the outbox copy goes too.
                "UPDATE keys SET state = 'submitting', attempts = attempts + 1, claimed_at = ?, updated_at = ?,
                    enqueued = 1, job = NULL WHERE key = ?",
                vec![V::from(now), V::from(now), V::from(req.key.as_str())],
            )?;
            Ok(row.attempts as u32 + 1)
        };
        Ok(match Lifecycle::parse(&row.state) {
            Some(Lifecycle::Accepted) => ClaimResponse::Claimed {
                attempt: take(self)?,
                replayed_at_ms: row.reopened_at,
            },
            Some(Lifecycle::Submitting) => {
                let held_for = now - row.claimed_at.unwrap_or(0);
                if held_for < CLAIM_LEASE_MS {
                    ClaimResponse::Busy {
                        retry_after_seconds: ((CLAIM_LEASE_MS - held_for) / 1000 + 1) as u32,
                    }
                } else {
                    ClaimResponse::InDoubt {
                        attempt: take(self)?,
                    }
                }
            }
            Some(Lifecycle::Done(outcome)) => ClaimResponse::Done {
                outcome,
                event: row.event,
                event_published: row.event_published != 0,
            },
            Some(Lifecycle::Dead) => ClaimResponse::Dead,
            None => {
                return Err(worker::Error::RustError(format!(
                    "key has unknown state {:?}",
                    row.state
                )))
            }
        })
    }

    fn complete(&self, req: CompleteRequest) -> Result<()> {
        let state = Lifecycle::Done(req.outcome).as_str();
        debug_assert!(matches!(
            req.outcome,
            Outcome::Filled | Outcome::Rejected | Outcome::Blocked
        ));
        self.sql.exec(
            "UPDATE keys SET state = ?, event = ?, event_published = 0, claimed_at = NULL, updated_at = ? WHERE key = ?",
            vec![
                V::from(state),
                V::from(req.event.as_str()),
                V::from(now_ms()),
                V::from(req.key.as_str()),
            ],
        )?;
        Ok(())
    }

    fn update(&self, update: KeyUpdate) -> Result<Option<KeyStatus>> {
        let now = now_ms();
        let key = match &update {
            KeyUpdate::EventPublished { key } => {
                self.sql.exec(
                    "UPDATE keys SET event_published = 1, updated_at = ? WHERE key = ?",
                    vec![V::from(now), V::from(key.as_str())],
                )?;
                key
            }
            KeyUpdate::AttemptFailed {
                key,
                error,
                released,
            } => {
                // A released claim is one whose attempt certainly placed no order. An unreleased
                // one ended in doubt: its lease is expired at once (claimed_at = 0), so the next
                // attempt reconciles without waiting.
                self.sql.exec(
                    "UPDATE keys SET last_error = ?, updated_at = ?,
                        state = CASE WHEN ? = 1 AND state = 'submitting' THEN 'accepted' ELSE state END,
                        claimed_at = CASE WHEN state <> 'submitting' THEN claimed_at
                                          WHEN ? = 1 THEN NULL ELSE 0 END
                     WHERE key = ?",
                    vec![
                        V::from(error.as_str()),
                        V::from(now),
                        // As an integer: the runtime binds a JS boolean as the text
                        // 'true', which is never `= 1`, so no claim was ever released.
                        V::from(i64::from(*released)),
                        V::from(i64::from(*released)),
                        V::from(key.as_str()),
                    ],
                )?;
                key
            }
            KeyUpdate::MarkDead { key, reason } => {
                // An ended key stays ended: a job that filled but whose event kept failing must
                // not become replayable.
                self.sql.exec(
                    "UPDATE keys SET state = 'dead', claimed_at = NULL,
                        in_doubt = CASE WHEN state = 'submitting' THEN 1 ELSE 0 END,
                        last_error = COALESCE(last_error, ?), updated_at = ?
                     WHERE key = ? AND state IN ('accepted', 'submitting')",
                    vec![
                        V::from(reason.as_str()),
                        V::from(now),
                        V::from(key.as_str()),
                    ],
                )?;
                key
            }
            KeyUpdate::Reopen { key } => {
                // Only a dead key may run again: a filled one stays filled, so a replay of a
                // signal that did execute is acknowledged without a second order. A key that died
                // mid-submit comes back in doubt (an expired claim), so the replay reconciles with
                // the exchange before it may submit.
                self.sql.exec(
                    "UPDATE keys SET updated_at = ?, reopened_at = ?1,
                        state = CASE WHEN in_doubt = 1 THEN 'submitting' ELSE 'accepted' END,
                        claimed_at = CASE WHEN in_doubt = 1 THEN 0 ELSE NULL END,
                        expires_at = MAX(expires_at, ?) WHERE key = ? AND state = 'dead'",
                    vec![
                        V::from(now),
                        V::from(now + 86_400_000),
                        V::from(key.as_str()),
                    ],
                )?;
                self.sql.exec(
                    "INSERT OR IGNORE INTO keys (key, payload_hash, state, status, body, enqueued, created_at, expires_at, updated_at, reopened_at)
                     VALUES (?, '', 'accepted', 0, '', 1, ?, ?, ?, ?2)",
                    vec![V::from(key.as_str()), V::from(now), V::from(now + 86_400_000), V::from(now)],
                )?;
                key
            }
        };
        self.status(key)
    }

    fn status(&self, key: &str) -> Result<Option<KeyStatus>> {
        let rows: Vec<StatusRow> = self
            .sql
            .exec(
                "SELECT state, attempts, last_error, in_doubt FROM keys WHERE key = ?",
                vec![V::from(key)],
            )?
            .to_array()?;
        Ok(rows.into_iter().next().and_then(|r| {
            Some(KeyStatus {
                key: key.to_owned(),
                state: Lifecycle::parse(&r.state)?,
                attempts: r.attempts as u32,
                last_error: r.last_error,
                // Only a dead key's flag means anything: Reopen keeps it for the reconcile.
                in_doubt: r.in_doubt != 0 && r.state == Lifecycle::Dead.as_str(),
            })
        }))
    }

    /// Sets the alarm to `at` unless one is already due sooner. Not awaited: like a SQL write,
    /// the alarm is part of the object's storage, and its output gate holds every answer given
    /// after this call until the alarm is stored (if storing it fails, the object restarts and
    /// the answer is never delivered, so the caller retries).
    fn ensure_alarm(&self, at: i64) -> Result<()> {
        if self.alarm_at.get().is_some_and(|cur| cur <= at) {
            return Ok(());
        }
        let storage = self.state.as_raw().storage()?;
        let when = js_sys::Date::new(&JsValue::from_f64(at as f64));
        let _stored = storage.set_alarm(when, js_sys::Object::new())?;
        self.alarm_at.set(Some(at));
        Ok(())
    }

    fn schedule_expiry(&self) -> Result<()> {
        let next: Vec<NextExpiry> = self
            .sql
            .exec("SELECT MIN(expires_at) AS next FROM keys", None)?
            .to_array()?;
        if let Some(at) = next.into_iter().next().and_then(|n| n.next) {
            self.ensure_alarm(at)?;
        }
        Ok(())
    }
}
