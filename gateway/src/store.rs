//! `IdempotencyStore`: the SQLite Durable Object that guards exactly-once.
//!
//! One object per shard of keys. For each key it keeps the payload hash, the answer given to the
//! sender, the lifecycle state, the attempt count and the job itself until the queue has it. Record
//! and enqueue form an outbox: the row is written before the queue send, and the alarm re-sends any
//! job whose send failed, so a `202` is never lost. The same alarm deletes keys past their TTL.
//!
//! Jobs go to the queue in batches (`sendBatch`) without waiting for one to fill: a job recorded
//! while no send is in flight is sent at once, alone; the jobs recorded while a send is in flight
//! go together in the next one, as soon as it returns. So a batch costs no job any delay, and a
//! busy shard makes one queue call per handful of signals rather than one per signal.

use base64::Engine as _;
use contracts::idempotency::{
    AttemptFailedRequest, ClaimRequest, ClaimResponse, CompleteRequest, ControlRequest,
    ControlStatus, Fenced, IntakeRequest, IntakeResponse, KeyStatus, KeyUpdate, StuckKey,
    SubmitGrant, SubmitRequest, SweepRequest, SweepResponse,
};
use contracts::lifecycle::KeyRecord;
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
/// Queues' `sendBatch` limits: at most 100 messages and 256 KB in all (kept under, for the
/// envelope of each message).
const SEND_BATCH_MESSAGES: usize = 100;
const SEND_BATCH_BYTES: usize = 192 * 1024;

/// One row per key: the whole [`KeyRecord`] as JSON in `rec`, and beside it the columns the
/// object's queries select on (kept equal to the record's fields on every write; `enqueued` is
/// the column's, since the outbox marks sent jobs in bulk). `records`, not the earlier `keys`
/// table, whose rows had no record: an object created before this schema starts afresh.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY,
    rec TEXT NOT NULL,
    fingerprint TEXT,
    state TEXT NOT NULL,
    enqueued INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    -- When the sweep last reported the key (0: never).
    swept INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS records_expiry ON records (expires_at);
CREATE INDEX IF NOT EXISTS records_outbox ON records (enqueued) WHERE enqueued = 0;
CREATE INDEX IF NOT EXISTS records_fingerprint ON records (fingerprint, created_at) WHERE fingerprint IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_open ON records (updated_at) WHERE state IN ('accepted', 'submitting');
CREATE TABLE IF NOT EXISTS control (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);";

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
    /// Recorded jobs waiting for the send in flight to return (see the module doc).
    outbox: Rc<RefCell<Outbox>>,
    /// This shard's kill switch, read from `control` once per object start and kept in step
    /// with every write (this object is the only writer).
    kill_switch: Cell<Option<(bool, i64)>>,
}

/// The jobs recorded while a send is in flight, as (key, base64 job), oldest first.
#[derive(Default)]
struct Outbox {
    queued: Vec<(String, String)>,
    sending: bool,
}

/// The oldest jobs of `queued` that fit in one `sendBatch` (at least one, whatever its size: a
/// job too large for a batch is refused by the queue on its own, and the alarm retries it).
fn next_batch(queued: &mut Vec<(String, String)>) -> Vec<(String, String)> {
    let mut bytes = 0;
    let n = queued
        .iter()
        .take(SEND_BATCH_MESSAGES)
        .take_while(|(_, job)| {
            bytes += job.len() * 3 / 4;
            bytes <= SEND_BATCH_BYTES
        })
        .count()
        .max(1)
        .min(queued.len());
    queued.drain(..n).collect()
}

#[derive(Deserialize)]
struct Row {
    rec: String,
    enqueued: i64,
}

#[derive(Deserialize)]
struct ControlRow {
    value: i64,
    updated_at: i64,
}

#[derive(Deserialize)]
struct NextExpiry {
    next: Option<i64>,
}

fn decode(row: Row) -> Result<KeyRecord> {
    let mut rec: KeyRecord = serde_json::from_str(&row.rec)
        .map_err(|e| worker::Error::RustError(format!("unreadable key record: {e}")))?;
    rec.enqueued = row.enqueued != 0;
    Ok(rec)
}

impl DurableObject for IdempotencyStore {
    fn new(state: State, env: Env) -> Self {
        // The object's isolate may serve no worker event before it.
        runtime::meter::init(&env);
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
            outbox: Rc::new(RefCell::new(Outbox::default())),
            kill_switch: Cell::new(None),
        }
    }

    /// Callers use [`IdempotencyStore::operate`]; a fetch is answered with where to go.
    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error("this object is called over RPC: operate(op, json)", 404)
    }

    async fn alarm(&self) -> Result<Response> {
        // A run alarm is gone unless set again (a failed run is retried by the runtime).
        runtime::meter::count(runtime::meter::Op::DoAlarm, 1, "alarm");
        self.alarm_at.set(None);
        let now = now_ms();
        self.flush_sent()?;
        // The record decides when it may go (`KeyRecord::expired`): in-doubt and unresolved
        // dead keys carry the never-expiring time.
        self.sql.exec(
            "DELETE FROM records WHERE expires_at <= ?",
            vec![V::from(now)],
        )?;
        // Every job still unmarked after the flush: a failed or never-run send, or a first
        // send too recent to judge (in flight, or done after the flush above).
        let unmarked: Vec<KeyRecord> = self
            .sql
            .exec("SELECT rec, enqueued FROM records WHERE enqueued = 0", None)?
            .to_array::<Row>()?
            .into_iter()
            .filter_map(|r| decode(r).ok())
            .collect();
        let mut waiting = false;
        let mut due = Vec::new();
        for rec in unmarked {
            let Some(job) = rec.job else {
                // Nothing to send (a record recreated by a replay carries no job).
                self.sent.borrow_mut().push(rec.key);
                continue;
            };
            if rec.created_at_ms > now - OUTBOX_RETRY_MS / 2 {
                waiting = true;
            } else {
                due.push((rec.key, job));
            }
        }
        while !due.is_empty() {
            let batch = next_batch(&mut due);
            if Self::send_batch(&self.env, &self.sent, &batch).await {
                for (key, _) in &batch {
                    tracing::info!(idempotency_key = %key, "outbox re-sent job");
                }
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
            "begin_submit" => answer(op, self.begin_submit(parse(op, body)?)),
            "complete" => answer(op, self.complete(parse(op, body)?)),
            "attempt_failed" => answer(op, self.attempt_failed(parse(op, body)?)),
            "update" => answer(op, self.update(parse(op, body)?)),
            "control" => answer(op, self.control(parse(op, body)?)),
            "sweep" => answer(op, self.sweep(parse(op, body)?)),
            // Read only: the whole record, for operators' inspection and the test harness.
            "record" => answer(op, self.load(&parse::<ClaimRequest>(op, body)?.key)),
            _ => Err(format!("no such operation {op:?}")),
        }
    }

    fn intake(&self, req: IntakeRequest) -> Result<IntakeResponse> {
        let now = now_ms();
        // A keyless signal with the same fingerprint inside the window is this one. No await
        // between this read and the insert below: the object's input gate makes them atomic.
        if let Some(w) = &req.fingerprint {
            let first: Vec<Row> = self
                .sql
                .exec(
                    "SELECT rec, enqueued FROM records WHERE fingerprint = ? AND created_at > ?
                     ORDER BY created_at LIMIT 1",
                    vec![
                        V::from(w.fingerprint.as_str()),
                        V::from(now.saturating_sub(w.window_ms)),
                    ],
                )?
                .to_array()?;
            if let Some(row) = first.into_iter().next() {
                return Ok(decode(row)?.replay_to(&req));
            }
        }
        let rec = KeyRecord::accepted(&req, now);
        // Insert first: the common case (a new key) costs one statement.
        let inserted = self.insert(&rec, "ON CONFLICT (key) DO NOTHING")?;
        if inserted == 0 {
            return match self.load(&req.key)? {
                Some(existing) => Ok(existing.replay_to(&req)),
                None => Err(worker::Error::RustError(
                    "key conflicted but is not readable".into(),
                )),
            };
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
        // queue: the job is sent right after it (at once, or with the jobs recorded during the
        // send in flight), and the outbox alarm, due within OUTBOX_RETRY_MS, marks it sent or
        // re-sends it if the send failed or never ran.
        self.ensure_alarm(now + OUTBOX_RETRY_MS)?;
        if !injected {
            let start = {
                let mut outbox = self.outbox.borrow_mut();
                outbox.queued.push((req.key.clone(), req.job.clone()));
                !std::mem::replace(&mut outbox.sending, true)
            };
            if start {
                let (env, sent, outbox) =
                    (self.env.clone(), self.sent.clone(), self.outbox.clone());
                self.state.wait_until(async move {
                    Self::drain(&env, &sent, &outbox).await;
                });
            }
        }
        Ok(IntakeResponse::Recorded)
    }

    /// Sends the queued jobs, a batch at a time, until none is left; the jobs recorded during a
    /// send go in the next one. Outlives the request that started it.
    async fn drain(env: &Env, sent: &Rc<RefCell<Vec<String>>>, outbox: &Rc<RefCell<Outbox>>) {
        loop {
            let batch = {
                let mut o = outbox.borrow_mut();
                if o.queued.is_empty() {
                    o.sending = false;
                    return;
                }
                next_batch(&mut o.queued)
            };
            Self::send_batch(env, sent, &batch).await;
        }
    }

    /// Sends recorded jobs to the queue in one `sendBatch`; true once the queue has them all
    /// (a batch is accepted or refused whole).
    async fn send_batch(
        env: &Env,
        sent: &Rc<RefCell<Vec<String>>>,
        batch: &[(String, String)],
    ) -> bool {
        let mut messages = Vec::with_capacity(batch.len());
        let mut keys = Vec::with_capacity(batch.len());
        for (key, job_b64) in batch {
            match base64::engine::general_purpose::STANDARD.decode(job_b64) {
                Ok(job) => {
                    messages.push(bytes::message(&job));
                    keys.push(key);
                }
                Err(e) => {
                    tracing::error!(idempotency_key = %key, error = %e, "outbox job is not base64");
                }
            }
        }
        if messages.is_empty() {
            return false;
        }
        let delivered = match env.queue(TRADE_QUEUE) {
            Ok(q) => q.send_raw_batch(messages).await,
            Err(e) => Err(e),
        };
        match delivered {
            Ok(()) => {
                runtime::meter::count(
                    runtime::meter::Op::QueueWrite,
                    keys.len(),
                    "trade-execution",
                );
                let all = keys.len() == batch.len();
                sent.borrow_mut().extend(keys.into_iter().cloned());
                all
            }
            Err(e) => {
                for key in keys {
                    tracing::warn!(idempotency_key = %key, jobs = batch.len(), error = %e, "queue send failed; the outbox alarm will retry");
                }
                false
            }
        }
    }

    /// Marks the jobs in [`Self::sent`] as enqueued (the record keeps the job until the key
    /// ends, for the stuck-key sweep).
    fn flush_sent(&self) -> Result<()> {
        let keys = std::mem::take(&mut *self.sent.borrow_mut());
        // SQLite in a Durable Object binds at most 100 parameters per statement.
        for chunk in keys.chunks(64) {
            let marks = vec!["?"; chunk.len()].join(",");
            let params: Vec<V> = chunk.iter().map(|k| V::from(k.as_str())).collect();
            self.sql.exec(
                &format!("UPDATE records SET enqueued = 1 WHERE key IN ({marks})"),
                params,
            )?;
        }
        Ok(())
    }

    fn load(&self, key: &str) -> Result<Option<KeyRecord>> {
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT rec, enqueued FROM records WHERE key = ?",
                vec![V::from(key)],
            )?
            .to_array()?;
        rows.into_iter().next().map(decode).transpose()
    }

    /// Writes a record's row; `conflict` is the `ON CONFLICT` clause. Returns rows written.
    fn insert(&self, rec: &KeyRecord, conflict: &str) -> Result<usize> {
        let json = serde_json::to_string(rec)
            .map_err(|e| worker::Error::RustError(format!("key record: {e}")))?;
        let written = self
            .sql
            .exec(
                &format!(
                    "INSERT INTO records (key, rec, fingerprint, state, enqueued, created_at, expires_at, updated_at, swept)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) {conflict}"
                ),
                vec![
                    V::from(rec.key.as_str()),
                    V::from(json.as_str()),
                    rec.fingerprint.as_deref().map_or(V::Null, V::from),
                    V::from(rec.state.as_str()),
                    V::from(i64::from(rec.enqueued)),
                    V::from(rec.created_at_ms),
                    V::from(rec.expires_at_ms),
                    V::from(rec.updated_at_ms),
                    V::from(rec.swept_at_ms.unwrap_or(0)),
                ],
            )?
            .rows_written();
        Ok(written)
    }

    /// Stores a changed record over its row.
    fn save(&self, rec: &KeyRecord) -> Result<()> {
        self.insert(
            rec,
            "ON CONFLICT (key) DO UPDATE SET rec = excluded.rec, state = excluded.state,
                enqueued = MAX(enqueued, excluded.enqueued), expires_at = excluded.expires_at,
                updated_at = excluded.updated_at, swept = excluded.swept",
        )
        .map(drop)
    }

    /// Loads `key`, applies `f`, and stores the record back if `f` changed it.
    fn with<T>(&self, key: &str, f: impl FnOnce(&mut KeyRecord) -> T) -> Result<Option<T>> {
        let Some(mut rec) = self.load(key)? else {
            return Ok(None);
        };
        let before = rec.clone();
        let out = f(&mut rec);
        if rec != before {
            self.save(&rec)?;
        }
        Ok(Some(out))
    }

    fn kill_switch(&self) -> Result<bool> {
        if let Some((on, _)) = self.kill_switch.get() {
            return Ok(on);
        }
        let rows: Vec<ControlRow> = self
            .sql
            .exec(
                "SELECT value, updated_at FROM control WHERE name = 'kill_switch'",
                None,
            )?
            .to_array()?;
        let (on, at) = rows
            .first()
            .map_or((false, 0), |r| (r.value != 0, r.updated_at));
        self.kill_switch.set(Some((on, at)));
        Ok(on)
    }

    fn claim(&self, req: ClaimRequest) -> Result<ClaimResponse> {
        let kill = self.kill_switch()?;
        let now = now_ms();
        Ok(self
            .with(&req.key, |r| {
                // Another signal under a reused key: this job's own record is gone.
                if r.is_signal(req.received_at_ms) {
                    r.claim(now, kill)
                } else {
                    ClaimResponse::Unknown
                }
            })?
            .unwrap_or(ClaimResponse::Unknown))
    }

    fn begin_submit(&self, req: SubmitRequest) -> Result<SubmitGrant> {
        let kill = self.kill_switch()?;
        let now = now_ms();
        Ok(self
            .with(&req.key, |r| r.begin_submit(req.attempt, now, kill))?
            .unwrap_or_else(|| SubmitGrant::Stale {
                reason: "the store has no record of the key".into(),
            }))
    }

    fn complete(&self, req: CompleteRequest) -> Result<Fenced> {
        let now = now_ms();
        Ok(self
            .with(&req.key, |r| r.complete(&req, now))?
            .unwrap_or(Fenced::Stale))
    }

    fn attempt_failed(&self, req: AttemptFailedRequest) -> Result<Fenced> {
        let now = now_ms();
        Ok(self
            .with(&req.key, |r| {
                r.attempt_failed(req.attempt, &req.error, req.released, now)
            })?
            .unwrap_or(Fenced::Stale))
    }

    fn update(&self, update: KeyUpdate) -> Result<Option<KeyStatus>> {
        let now = now_ms();
        let key = update.key().to_owned();
        let status = match update {
            KeyUpdate::EventPublished { received_at_ms, .. } => self.with(&key, |r| {
                if r.is_signal(received_at_ms) {
                    r.event_published(now);
                }
            })?,
            KeyUpdate::MarkDead {
                reason,
                recorded_at_ms,
                received_at_ms,
                ..
            } => self.with(&key, |r| {
                if r.is_signal(received_at_ms) {
                    r.mark_dead(&reason, recorded_at_ms, now);
                }
            })?,
            KeyUpdate::Reopen {
                recorded_at_ms,
                received_at_ms,
                ..
            } => match self.load(&key)? {
                // Another signal holds the key now: the replayed one's record is gone, and it
                // cannot be recreated under that key (its job will be answered `Unknown`).
                Some(r) if !r.is_signal(received_at_ms) => return Ok(None),
                Some(_) => self.with(&key, |r| r.reopen(now, recorded_at_ms))?,
                None => {
                    // Forgotten (expired, or never seen here): it comes back in doubt.
                    let rec = KeyRecord::forgotten(&key, received_at_ms, now, recorded_at_ms);
                    self.insert(&rec, "ON CONFLICT (key) DO NOTHING")?;
                    Some(())
                }
            },
            KeyUpdate::Resolve { received_at_ms, .. } => self.with(&key, |r| {
                if r.is_signal(received_at_ms) {
                    r.resolve(now);
                }
            })?,
            KeyUpdate::Status { .. } => Some(()),
        };
        if status.is_none() {
            return Ok(None);
        }
        Ok(self.load(&key)?.map(|r| r.status()))
    }

    fn control(&self, req: ControlRequest) -> Result<ControlStatus> {
        let current = self.kill_switch()?;
        if let Some(on) = req.kill_switch.filter(|&on| on != current) {
            let now = now_ms();
            self.sql.exec(
                "INSERT INTO control (name, value, updated_at) VALUES ('kill_switch', ?, ?)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                vec![V::from(i64::from(on)), V::from(now)],
            )?;
            self.kill_switch.set(Some((on, now)));
        }
        let (kill_switch, updated_at_ms) = self.kill_switch.get().unwrap_or((current, 0));
        Ok(ControlStatus {
            kill_switch,
            updated_at_ms,
        })
    }

    fn sweep(&self, req: SweepRequest) -> Result<SweepResponse> {
        let now = now_ms();
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT rec, enqueued FROM records
                 WHERE state IN ('accepted', 'submitting') AND updated_at <= ?1 AND swept <= ?1
                 ORDER BY updated_at LIMIT ?2",
                vec![
                    V::from(now.saturating_sub(req.older_than_ms)),
                    V::from(i64::from(req.limit.clamp(1, 500))),
                ],
            )?
            .to_array()?;
        let mut stuck = Vec::new();
        for row in rows {
            let mut rec = decode(row)?;
            if rec.stuck(now, req.older_than_ms) {
                rec.swept(now);
                self.save(&rec)?;
                stuck.push(StuckKey {
                    status: rec.status(),
                    job: rec.job.clone(),
                });
            }
        }
        Ok(SweepResponse { stuck })
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
            // Rows that never expire (in doubt, or dead and unresolved) need no alarm: a JS date
            // cannot even hold their time.
            .exec(
                "SELECT MIN(expires_at) AS next FROM records WHERE expires_at < ?",
                vec![V::from(contracts::lifecycle::NEVER)],
            )?
            .to_array()?;
        if let Some(at) = next.into_iter().next().and_then(|n| n.next) {
            self.ensure_alarm(at)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(sizes: &[usize]) -> Vec<(String, String)> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("k{i}"), "A".repeat(*n)))
            .collect()
    }

    #[test]
    fn a_batch_takes_the_oldest_jobs_within_both_limits() {
        let mut q = jobs(&[100; 250]);
        let first = next_batch(&mut q);
        assert_eq!(first.len(), SEND_BATCH_MESSAGES);
        assert_eq!(first[0].0, "k0");
        assert_eq!(q[0].0, "k100");
        // Bytes bind before the count: 40 jobs of 8 KiB (6 KiB decoded) fill 192 KiB at 32.
        let mut big = jobs(&[8 * 1024; 40]);
        assert_eq!(next_batch(&mut big).len(), 32);
        assert_eq!(big.len(), 8);
    }

    #[test]
    fn a_job_larger_than_a_batch_still_goes_alone_and_nothing_is_lost() {
        let mut q = jobs(&[400 * 1024, 10, 10]);
        assert_eq!(next_batch(&mut q).len(), 1);
        assert_eq!(next_batch(&mut q).len(), 2);
        assert!(q.is_empty());
        assert!(next_batch(&mut q).is_empty());
    }
}
