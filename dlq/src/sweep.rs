//! The stuck-key sweep, run by the dlq worker's cron trigger (every minute): nothing the gateway
//! answered `202` for may disappear without an operator seeing it, even when the platform drops
//! a message (a queue send that never happened, a dead letter past its retries).
//!
//! Every shard of the IdempotencyStore is asked (concurrently, a few at a time) for the keys that
//! have sat accepted or abandoned — not ended, not dead, no live claim — for longer than
//! `dlq:stuck_after_seconds` (CONFIG_KV; default 1800 s, longer than `retry:policy`'s default
//! 900 s maximum delay, so a key only waiting for its next retry is not reported). Each becomes a
//! pending dead letter (`unclaimed` if never claimed, else `abandoned`) with the job bytes the
//! store kept, under the message id `sweep:<key>:<updated_at_ms>`, so a repeated report inserts
//! nothing. The key is NOT marked dead: its delivery may still come, and a replay of an accepted
//! key only re-sends the job, which the store's claim keeps to one order. The new rows alert like
//! any other dead letter (once each, `alerted_at_ms`); an alert that fails is sent again on the
//! next run, since the store reports each stuck key only once.

use crate::consumer;
use contracts::config::{dlq_stuck_after_seconds, DLQ_STUCK_AFTER_SECONDS};
use contracts::idempotency::{all_shards, SweepRequest};
use futures::stream::{self, StreamExt as _};
use ops::dead_letters::{self as dl, DeadLetterSummary};
use ops::recording::NewDeadLetter;
use runtime::config::CONFIG_KV;
use runtime::d1;
use runtime::idempotency::Store;
use worker::{D1Database, Env};

/// Shards asked at once.
const SHARD_CONCURRENCY: usize = 8;
/// Stuck keys one shard reports per run (the rest come on the next runs).
const PER_SHARD: u32 = 50;
/// Sweep rows whose alert is (re)sent per run.
const ALERT_BATCH: u32 = 50;
/// Tries of one shard's D1 insert within a run: the store has already noted those keys as
/// reported, so their rows must not be lost to one failed write.
const INSERT_TRIES: u32 = 3;

/// `dlq:stuck_after_seconds`, default when absent or unreadable (and when KV is unreachable: the
/// sweep still runs).
async fn stuck_after_seconds(env: &Env) -> u32 {
    runtime::meter::count(runtime::meter::Op::KvRead, 1, CONFIG_KV);
    let raw = match env.kv(CONFIG_KV) {
        Ok(kv) => match kv.get(DLQ_STUCK_AFTER_SECONDS).text().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "CONFIG_KV unreadable; sweeping with the default threshold");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "CONFIG_KV binding missing; sweeping with the default threshold");
            None
        }
    };
    let (seconds, unreadable) = dlq_stuck_after_seconds(raw.as_deref());
    if unreadable {
        tracing::warn!(key = DLQ_STUCK_AFTER_SECONDS, value = ?raw, "config value ignored; default used");
    }
    seconds
}

/// Sweeps one shard and records its stuck keys; returns the message ids of their rows.
async fn sweep_shard(
    db: &D1Database,
    store: &Store<'_>,
    shard: String,
    req: &SweepRequest,
) -> Vec<String> {
    let answer = match store.sweep(&shard, req).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(shard = %shard, error = %e, "sweep failed; this shard is swept again next run");
            return vec![];
        }
    };
    if answer.stuck.is_empty() {
        return vec![];
    }
    let now = runtime::now_ms();
    let letters: Vec<NewDeadLetter> = answer
        .stuck
        .iter()
        .map(|s| NewDeadLetter::from_stuck(s, now))
        .collect();
    let inserts: Vec<_> = letters.iter().map(NewDeadLetter::insert).collect();
    for attempt in 1..=INSERT_TRIES {
        match d1::batch(db, &inserts).await {
            Ok(_) => {
                for l in &letters {
                    tracing::warn!(shard = %shard, reason = %l.reason, idempotency_key = ?l.idempotency_key, attempts = l.attempts, in_doubt = l.recording.in_doubt, "stuck key recorded as a dead letter");
                }
                return letters.into_iter().map(|l| l.message_id).collect();
            }
            Err(e) if attempt < INSERT_TRIES => {
                tracing::warn!(shard = %shard, attempt, error = %e, "recording swept keys failed; trying again");
            }
            Err(e) => {
                let keys: Vec<&str> = letters
                    .iter()
                    .filter_map(|l| l.idempotency_key.as_deref())
                    .collect();
                tracing::error!(shard = %shard, keys = ?keys, error = %e, "stuck keys reported by the store could not be recorded");
            }
        }
    }
    vec![]
}

/// One run of the sweep.
pub async fn run(env: &Env) {
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => {
            tracing::error!(error = %e, "D1 binding missing; sweep skipped");
            return;
        }
    };
    let older_than_ms = i64::from(stuck_after_seconds(env).await) * 1000;
    let req = SweepRequest {
        older_than_ms,
        limit: PER_SHARD,
    };
    let store = Store::new(env);
    let recorded: Vec<String> = stream::iter(all_shards())
        .map(|shard| sweep_shard(&db, &store, shard, &req))
        .buffer_unordered(SHARD_CONCURRENCY)
        .concat()
        .await;
    if !recorded.is_empty() {
        tracing::warn!(
            dead_letters = recorded.len(),
            older_than_ms,
            "sweep recorded stuck keys"
        );
    }
    // Every sweep row not alerted yet: this run's, and those whose alert failed before.
    let fresh: Vec<DeadLetterSummary> =
        match d1::all(&db, &dl::unalerted_sweep_query(ALERT_BATCH)).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "could not read swept dead letters to alert on");
                return;
            }
        };
    if let Err(wait) = consumer::alert_rows(&db, env, &fresh).await {
        tracing::warn!(
            dead_letters = fresh.len(),
            retry_in_seconds = wait,
            "sweep alert failed; sent again on the next run"
        );
    }
}
