//! Dead letters as operators handle them: list with filters, inspect, replay, discard.
//!
//! A dead letter is `pending` until an operator replays it (it re-enters `trade-execution` with
//! its own idempotency key, so the IdempotencyStore still guards exactly-once) or discards it with
//! a reason; both end it, and both are written to the audit log. A dead letter whose key had
//! already ended when it was recorded is `ended` from the start (see [`crate::recording`]).
//! [`plan`] decides, from the stored row alone, whether a row can be replayed; before carrying a
//! plan out the `dlq` worker asks the ledger whether that very signal filled
//! ([`ledger_fill_query`]), so a replay of a key the store has since forgotten never trades twice.

use crate::audit::AuditEntry;
use crate::query::{
    parse_exchange, parse_num, parse_symbol, parse_word, Cursor, FilterError, Page, Paging, Param,
    Query, Where,
};
use base64::Engine as _;
use contracts::idempotency::{client_order_id, KeyUpdate};
use contracts::job::TradeJob;
use serde::{Deserialize, Deserializer, Serialize};

/// Most dead letters one replay request may touch (each costs a store call and a queue send).
pub const MAX_REPLAY_BATCH: usize = 100;
/// Longest discard reason kept.
pub const MAX_DISCARD_REASON: usize = 500;

/// The `queue` of dead letters moved there by the platform or sent by the trade-worker.
pub const EXECUTION_DLQ: &str = "trade-execution-dlq";
/// The `queue` of trade events whose ledger write kept failing.
pub const EVENTS_DLQ: &str = "trade-events-dlq";
/// The `queue` of dead letters the dlq worker's sweep found in the store (stuck keys).
pub const SWEEP_QUEUE: &str = "sweep";

/// Where a dead letter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for an operator.
    Pending,
    /// Sent back to `trade-execution`.
    Replayed,
    /// Closed by an operator, with a reason.
    Discarded,
    /// Recorded after its key had already ended (filled, rejected, blocked): nothing to replay.
    Ended,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Replayed => "replayed",
            Self::Discarded => "discarded",
            Self::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "pending" => Some(Self::Pending),
            "replayed" => Some(Self::Replayed),
            "discarded" => Some(Self::Discarded),
            "ended" => Some(Self::Ended),
            _ => None,
        }
    }
}

/// What a list may be narrowed by. All fields are optional and combine with AND.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterFilter {
    pub reason: Option<String>,
    pub exchange: Option<String>,
    pub symbol: Option<String>,
    pub status: Option<Status>,
    pub queue: Option<String>,
    pub idempotency_key: Option<String>,
    /// Recorded at or after, epoch ms.
    pub since_ms: Option<i64>,
    /// Recorded before, epoch ms.
    pub until_ms: Option<i64>,
}

impl DeadLetterFilter {
    /// Validates and canonicalises every field (`btc/usdt` → `BTCUSDT`, `PAPER` → `paper`).
    pub fn normalized(self) -> Result<Self, FilterError> {
        Ok(Self {
            reason: self.reason.map(|r| parse_word("reason", &r)).transpose()?,
            exchange: self.exchange.map(|e| parse_exchange(&e)).transpose()?,
            symbol: self.symbol.map(|s| parse_symbol(&s)).transpose()?,
            status: self.status,
            queue: self.queue.map(|q| parse_word("queue", &q)).transpose()?,
            idempotency_key: self.idempotency_key,
            since_ms: self.since_ms,
            until_ms: self.until_ms,
        })
    }

    /// Reads `reason`, `exchange`, `symbol`, `status`, `queue`, `key`, `since`, `until` (epoch
    /// ms), `limit` and `cursor` from a query string's pairs.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(Self, Paging), FilterError> {
        let mut f = Self::default();
        let mut paging = Paging::default();
        for (k, v) in pairs {
            if paging.take(k, v)? {
                continue;
            }
            match k {
                "reason" => f.reason = Some(v.to_owned()),
                "exchange" => f.exchange = Some(v.to_owned()),
                "symbol" => f.symbol = Some(v.to_owned()),
                "status" => {
                    f.status = Some(Status::parse(v).ok_or(FilterError::Invalid {
                        field: "status",
                        message: "one of pending, replayed, discarded, ended".into(),
                    })?)
                }
                "queue" => f.queue = Some(v.to_owned()),
                "key" => f.idempotency_key = Some(v.to_owned()),
                "since" => f.since_ms = Some(parse_num("since", v)?),
                "until" => f.until_ms = Some(parse_num("until", v)?),
                other => return Err(FilterError::Unknown(other.to_owned())),
            }
        }
        Ok((f.normalized()?, paging))
    }

    /// The query-string pairs [`Self::from_pairs`] reads back.
    pub fn to_pairs(&self, paging: &Paging) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push((k.to_owned(), v));
            }
        };
        push("reason", self.reason.clone());
        push("exchange", self.exchange.clone());
        push("symbol", self.symbol.clone());
        push("status", self.status.map(|s| s.as_str().to_owned()));
        push("queue", self.queue.clone());
        push("key", self.idempotency_key.clone());
        push("since", self.since_ms.map(|v| v.to_string()));
        push("until", self.until_ms.map(|v| v.to_string()));
        paging.pairs(&mut out);
        out
    }

    fn where_clause(&self) -> Where {
        let mut w = Where::default();
        w.eq_opt("reason", self.reason.clone());
        w.eq_opt("exchange", self.exchange.clone());
        w.eq_opt("symbol", self.symbol.clone());
        w.eq_opt("status", self.status.map(|s| s.as_str()));
        w.eq_opt("queue", self.queue.clone());
        w.eq_opt("idempotency_key", self.idempotency_key.clone());
        if let Some(t) = self.since_ms {
            w.cmp("created_at_ms", ">=", t);
        }
        if let Some(t) = self.until_ms {
            w.cmp("created_at_ms", "<", t);
        }
        w
    }
}

const SUMMARY_COLUMNS: &str = "id, queue, idempotency_key, reason, detail, attempts, last_error, \
     exchange, symbol, action, status, in_doubt, created_at_ms, replays, resolved_at_ms, resolved_by, resolution";

/// A boolean as SQLite stores it (D1 rows carry `0`/`1`) or as JSON does (the API's answers).
/// Absent or null is false.
pub(crate) fn sql_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Int(i64),
        Float(f64),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::Bool(b)) => b,
        Some(Raw::Int(i)) => i != 0,
        Some(Raw::Float(f)) => f != 0.0,
        None => false,
    })
}

/// A dead letter without its payload, as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterSummary {
    pub id: i64,
    pub queue: String,
    pub idempotency_key: Option<String>,
    pub reason: String,
    pub detail: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub exchange: Option<String>,
    pub symbol: Option<String>,
    pub action: Option<String>,
    pub status: String,
    /// An order may exist at the exchange for this signal (its last attempt's outcome is unknown,
    /// or the store had no record of the key): a replay looks the order up before it may submit.
    /// Rows recorded before migration 0003 read as false.
    #[serde(default, deserialize_with = "sql_bool")]
    pub in_doubt: bool,
    pub created_at_ms: i64,
    #[serde(default)]
    pub replays: i64,
    pub resolved_at_ms: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
}

/// A whole `dead_letters` row: the summary plus the stored job and raw body (base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterRow {
    #[serde(flatten)]
    pub summary: DeadLetterSummary,
    pub message_id: String,
    pub job: Option<String>,
    pub raw: Option<String>,
}

/// The stored job, decoded for reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    pub idempotency_key: String,
    pub request_id: String,
    pub received_at_ms: i64,
    pub signal: contracts::signal::Signal,
}

impl From<TradeJob> for JobView {
    fn from(j: TradeJob) -> Self {
        Self {
            idempotency_key: j.idempotency_key,
            request_id: j.request_id,
            received_at_ms: j.received_at_ms,
            signal: j.signal,
        }
    }
}

/// One dead letter inspected: its record, its decoded job, its raw body when it had no job, and
/// every audit entry about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterDetail {
    #[serde(flatten)]
    pub summary: DeadLetterSummary,
    pub job: Option<JobView>,
    pub raw_base64: Option<String>,
    pub replayable: bool,
    pub history: Vec<AuditEntry>,
}

impl DeadLetterDetail {
    pub fn new(row: DeadLetterRow, history: Vec<AuditEntry>) -> Self {
        let replayable = matches!(plan(&row), Plan::Replay { .. });
        let job = row
            .job
            .as_deref()
            .and_then(|b| decode_job(b).ok())
            .map(JobView::from);
        Self {
            summary: row.summary,
            job,
            raw_base64: row.raw,
            replayable,
            history,
        }
    }
}

/// A page of dead letters plus how many match the filter in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterList {
    #[serde(flatten)]
    pub page: Page<DeadLetterSummary>,
    pub total: i64,
}

/// A key's dead letters, oldest first, with when each was alerted (a signal's trail).
pub fn by_key_query(key: &str) -> Query {
    Query::new(
        format!(
            "SELECT {SUMMARY_COLUMNS}, alerted_at_ms FROM dead_letters WHERE idempotency_key = ?1 \
             ORDER BY id LIMIT 20"
        ),
        vec![key.into()],
    )
}

/// Dead letters recorded after `since_ms`, oldest first (the dashboard's live feed).
pub fn since_query(since_ms: i64, limit: u32) -> Query {
    Query::new(
        format!(
            "SELECT {SUMMARY_COLUMNS}, alerted_at_ms FROM dead_letters WHERE created_at_ms > ?1 \
             ORDER BY created_at_ms, id LIMIT {limit}"
        ),
        vec![since_ms.into()],
    )
}

/// `SELECT` of one page, newest first.
pub fn list_query(filter: &DeadLetterFilter, paging: &Paging) -> Query {
    let mut w = filter.where_clause();
    if let Some(c) = &paging.cursor {
        w.cmp("id", "<", c.at);
    }
    let limit = w.page_limit(paging);
    Query::new(
        format!(
            "SELECT {SUMMARY_COLUMNS} FROM dead_letters{} ORDER BY id DESC LIMIT {limit}",
            w.sql()
        ),
        w.params,
    )
}

/// The cursor after `row` in [`list_query`]'s order.
pub fn cursor_of(row: &DeadLetterSummary) -> Cursor {
    Cursor {
        at: row.id,
        tie: String::new(),
    }
}

/// `SELECT COUNT(*) AS n` over the filter.
pub fn count_query(filter: &DeadLetterFilter) -> Query {
    let w = filter.where_clause();
    Query::new(
        format!("SELECT COUNT(*) AS n FROM dead_letters{}", w.sql()),
        w.params,
    )
}

/// The whole row of one dead letter.
pub fn get_query(id: i64) -> Query {
    Query::new(
        format!("SELECT {SUMMARY_COLUMNS}, message_id, job, raw FROM dead_letters WHERE id = ?1"),
        vec![Param::Int(id)],
    )
}

/// Whether the dlq worker already recorded this queue message (a redelivery), as a
/// [`crate::recording::RecordedRow`].
pub fn recorded_query(message_id: &str) -> Query {
    Query::new(
        "SELECT id, created_at_ms, status, in_doubt, detail FROM dead_letters WHERE message_id = ?1",
        vec![message_id.into()],
    )
}

/// Rows of the given ids (at most [`MAX_REPLAY_BATCH`]), whole.
pub fn get_many_query(ids: &[i64]) -> Query {
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("?{i}")).collect();
    Query::new(
        format!(
            "SELECT {SUMMARY_COLUMNS}, message_id, job, raw FROM dead_letters WHERE id IN ({}) ORDER BY id",
            marks.join(", ")
        ),
        ids.iter().map(|&i| Param::Int(i)).collect(),
    )
}

/// Ends a pending dead letter as replayed. Matches nothing when it is no longer pending, so two
/// operators racing cannot both claim it.
pub fn mark_replayed(id: i64, actor: &str, note: &str, now_ms: i64) -> Query {
    Query::new(
        "UPDATE dead_letters SET status = 'replayed', replays = replays + 1, resolved_at_ms = ?1,
            resolved_by = ?2, resolution = ?3 WHERE id = ?4 AND status = 'pending'",
        vec![
            Param::Int(now_ms),
            actor.into(),
            note.into(),
            Param::Int(id),
        ],
    )
}

/// Ends a pending dead letter as discarded, keeping the operator's reason.
pub fn mark_discarded(id: i64, actor: &str, reason: &str, now_ms: i64) -> Query {
    Query::new(
        "UPDATE dead_letters SET status = 'discarded', resolved_at_ms = ?1, resolved_by = ?2,
            resolution = ?3 WHERE id = ?4 AND status = 'pending'",
        vec![
            Param::Int(now_ms),
            actor.into(),
            reason.into(),
            Param::Int(id),
        ],
    )
}

/// Ends a pending dead letter whose signal turned out to have executed (a replay found it in the
/// ledger): nothing to replay, and nothing left for an operator to do.
pub fn mark_ended(id: i64, actor: &str, note: &str, now_ms: i64) -> Query {
    Query::new(
        "UPDATE dead_letters SET status = 'ended', resolved_at_ms = ?1, resolved_by = ?2,
            resolution = ?3 WHERE id = ?4 AND status = 'pending'",
        vec![
            Param::Int(now_ms),
            actor.into(),
            note.into(),
            Param::Int(id),
        ],
    )
}

/// The resolution of a dead letter whose replay found its signal in the ledger.
pub fn already_filled_note(fill: &LedgerFill) -> String {
    match fill.source.as_str() {
        "order" => format!(
            "the ledger has its order {} ({}); nothing to replay",
            fill.reference, fill.status
        ),
        _ => "the ledger has its signal as filled; nothing to replay".into(),
    }
}

/// Dead letters of these queue messages not yet alerted on (the dlq worker alerts once each).
pub fn unalerted_query(message_ids: &[String]) -> Query {
    let marks: Vec<String> = (1..=message_ids.len()).map(|i| format!("?{i}")).collect();
    Query::new(
        format!(
            "SELECT {SUMMARY_COLUMNS} FROM dead_letters WHERE message_id IN ({}) AND alerted_at_ms IS NULL ORDER BY id",
            marks.join(", ")
        ),
        message_ids.iter().map(|m| Param::Text(m.clone())).collect(),
    )
}

/// The sweep's dead letters whose alert has not gone out (the sweep reports each stuck key once,
/// so an alert that failed is retried from here on the next run), oldest first.
pub fn unalerted_sweep_query(limit: u32) -> Query {
    Query::new(
        format!(
            "SELECT {SUMMARY_COLUMNS} FROM dead_letters WHERE queue = ?1 AND alerted_at_ms IS NULL ORDER BY id LIMIT ?2"
        ),
        vec![SWEEP_QUEUE.into(), Param::Int(i64::from(limit))],
    )
}

/// Records that the alert for these dead letters went out.
pub fn mark_alerted(ids: &[i64], now_ms: i64) -> Query {
    let marks: Vec<String> = (2..=ids.len() + 1).map(|i| format!("?{i}")).collect();
    let mut params = vec![Param::Int(now_ms)];
    params.extend(ids.iter().map(|&i| Param::Int(i)));
    Query::new(
        format!(
            "UPDATE dead_letters SET alerted_at_ms = ?1 WHERE id IN ({})",
            marks.join(", ")
        ),
        params,
    )
}

/// Replay one or many: by id, or every pending dead letter matching a filter (at most `limit`,
/// itself at most [`MAX_REPLAY_BATCH`]). `dry_run` changes nothing and says what would happen.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    #[serde(default)]
    pub ids: Vec<i64>,
    #[serde(default)]
    pub filter: Option<DeadLetterFilter>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub dry_run: bool,
}

/// A replay request the API refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("give `ids` or a `filter`, not both and not neither")]
    IdsOrFilter,
    #[error("at most {MAX_REPLAY_BATCH} dead letters per request")]
    TooMany,
    #[error("a discard needs a reason (1 to {MAX_DISCARD_REASON} characters)")]
    Reason,
    #[error(transparent)]
    Filter(#[from] FilterError),
}

/// What a validated replay request selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Ids(Vec<i64>),
    /// Pending rows matching the filter, oldest first, at most this many.
    Matching(DeadLetterFilter, u32),
}

impl ReplayRequest {
    pub fn selection(&self) -> Result<Selection, RequestError> {
        match (&self.filter, self.ids.is_empty()) {
            (None, false) => {
                let mut ids = self.ids.clone();
                ids.sort_unstable();
                ids.dedup();
                if ids.len() > MAX_REPLAY_BATCH {
                    return Err(RequestError::TooMany);
                }
                Ok(Selection::Ids(ids))
            }
            (Some(f), true) => {
                let limit = self.limit.unwrap_or(MAX_REPLAY_BATCH as u32);
                if limit as usize > MAX_REPLAY_BATCH || limit == 0 {
                    return Err(RequestError::TooMany);
                }
                let mut f = f.clone().normalized()?;
                f.status = Some(Status::Pending);
                Ok(Selection::Matching(f, limit))
            }
            _ => Err(RequestError::IdsOrFilter),
        }
    }
}

/// Pending rows matching `filter`, oldest first, whole (for a replay by filter).
pub fn matching_query(filter: &DeadLetterFilter, limit: u32) -> Query {
    let mut w = filter.where_clause();
    let limit = w.limit(limit);
    Query::new(
        format!(
            "SELECT {SUMMARY_COLUMNS}, message_id, job, raw FROM dead_letters{} ORDER BY id LIMIT {limit}",
            w.sql()
        ),
        w.params,
    )
}

/// What happened (or, in a dry run, would happen) to one dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ReplayResult {
    /// Dry run: it would be replayed.
    WouldReplay,
    /// Sent back to `trade-execution`. `key_state` is the IdempotencyStore's state of the key
    /// after reopening: `accepted` runs again; `submitting` reconciles with the exchange first;
    /// `filled`, `rejected`, `blocked` mean the signal had already ended and the replay is
    /// acknowledged without a second order. `in_doubt`: the store will have the replay look the
    /// order up by client order id before it may submit (its last outcome was unknown, or the
    /// store had forgotten the key and recreated it in doubt).
    Replayed {
        key_state: String,
        #[serde(default)]
        in_doubt: bool,
    },
    /// Not replayable (see [`SkipReason`]).
    Skipped { reason: SkipReason },
    /// The attempt failed; the dead letter stays pending and may be replayed again.
    Failed { error: String },
    /// No dead letter has this id.
    NotFound,
}

/// One dead letter of a replay answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayItem {
    pub id: i64,
    pub idempotency_key: Option<String>,
    pub exchange: Option<String>,
    pub symbol: Option<String>,
    pub action: Option<String>,
    pub reason: Option<String>,
    #[serde(flatten)]
    pub result: ReplayResult,
}

impl ReplayItem {
    pub fn of(s: &DeadLetterSummary, result: ReplayResult) -> Self {
        Self {
            id: s.id,
            idempotency_key: s.idempotency_key.clone(),
            exchange: s.exchange.clone(),
            symbol: s.symbol.clone(),
            action: s.action.clone(),
            reason: Some(s.reason.clone()),
            result,
        }
    }

    pub fn not_found(id: i64) -> Self {
        Self {
            id,
            idempotency_key: None,
            exchange: None,
            symbol: None,
            action: None,
            reason: None,
            result: ReplayResult::NotFound,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReplayCounts {
    pub would_replay: u32,
    pub replayed: u32,
    pub skipped: u32,
    pub failed: u32,
    pub not_found: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayResponse {
    pub dry_run: bool,
    pub counts: ReplayCounts,
    pub items: Vec<ReplayItem>,
}

impl ReplayResponse {
    pub fn new(dry_run: bool, items: Vec<ReplayItem>) -> Self {
        let mut counts = ReplayCounts::default();
        for i in &items {
            match i.result {
                ReplayResult::WouldReplay => counts.would_replay += 1,
                ReplayResult::Replayed { .. } => counts.replayed += 1,
                ReplayResult::Skipped { .. } => counts.skipped += 1,
                ReplayResult::Failed { .. } => counts.failed += 1,
                ReplayResult::NotFound => counts.not_found += 1,
            }
        }
        Self {
            dry_run,
            counts,
            items,
        }
    }
}

/// Why a dead letter cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Already replayed or discarded.
    NotPending,
    /// No job was kept: the body never decoded, or it is a trade event whose ledger write
    /// failed (the trade itself had ended; nothing to execute).
    NoJob,
    /// The stored job does not decode or names another key; replaying it could not be safe.
    CorruptJob,
    /// The ledger has this very signal's order (its client order id) or its `filled` outcome:
    /// it executed, even if the store has since forgotten the key. Nothing is sent, and (unless
    /// it is a dry run) the row ends as `ended`, audited as the replay.
    AlreadyFilled,
    /// The ledger has this very signal's final outcome other than filled (`rejected`,
    /// `blocked`): it ended, even if the store has since forgotten the key (a stale dead letter
    /// of a duplicate delivery must not run it again). Handled like [`SkipReason::AlreadyFilled`].
    AlreadyEnded,
}

/// The decision for one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Check the ledger ([`ledger_fill_query`] of `key` and `received_at_ms`), reopen `key` in
    /// the store, then send `job` (encoded `TradeJob`) to `trade-execution`.
    Replay {
        key: String,
        received_at_ms: i64,
        job: Vec<u8>,
    },
    Skip(SkipReason),
}

pub fn decode_job(b64: &str) -> Result<TradeJob, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| e.to_string())?;
    TradeJob::decode(&bytes).map_err(|e| e.to_string())
}

/// Whether and how `row` can be replayed, from the row alone.
pub fn plan(row: &DeadLetterRow) -> Plan {
    if row.summary.status != Status::Pending.as_str() {
        return Plan::Skip(SkipReason::NotPending);
    }
    let Some(b64) = row.job.as_deref() else {
        return Plan::Skip(SkipReason::NoJob);
    };
    let Ok(job) = decode_job(b64) else {
        return Plan::Skip(SkipReason::CorruptJob);
    };
    if row.summary.idempotency_key.as_deref() != Some(job.idempotency_key.as_str()) {
        return Plan::Skip(SkipReason::CorruptJob);
    }
    Plan::Replay {
        key: job.idempotency_key.clone(),
        received_at_ms: job.received_at_ms,
        job: job.encode(),
    }
}

/// What the ledger holds of one signal's execution (a row of [`ledger_fill_query`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerFill {
    /// `order` (an `orders` row under the signal's client order id) or `signal` (its `signals`
    /// row says `filled`).
    pub source: String,
    /// The client order id, or the idempotency key.
    pub reference: String,
    /// The order's exchange status, or the signal's outcome.
    pub status: String,
}

/// Whether the ledger shows that the signal with this key, first accepted at `received_at_ms`,
/// executed or ended: an `orders` row under its deterministic client order id (the ledger writes
/// one for every order an exchange acknowledged), or its `signals` row with a final outcome and
/// the same intake time. A key reused later (a new intake time) is another signal and does not
/// match.
pub fn ledger_fill_query(key: &str, received_at_ms: i64) -> Query {
    Query::new(
        "SELECT 'order' AS source, client_order_id AS reference, status FROM orders WHERE client_order_id = ?1
         UNION ALL
         SELECT 'signal' AS source, idempotency_key AS reference, outcome AS status FROM signals
         WHERE idempotency_key = ?2 AND received_at_ms = ?3
            AND outcome IN ('filled', 'rejected', 'blocked')
         ORDER BY source LIMIT 1",
        vec![
            client_order_id(key, received_at_ms).into(),
            key.into(),
            Param::Int(received_at_ms),
        ],
    )
}

/// The replay's decision once the ledger answered: skip a signal that executed.
pub fn ledger_verdict(fill: Option<&LedgerFill>) -> Option<SkipReason> {
    fill.map(|f| match (f.source.as_str(), f.status.as_str()) {
        ("signal", "rejected" | "blocked") => SkipReason::AlreadyEnded,
        _ => SkipReason::AlreadyFilled,
    })
}

/// What a discard tells the store, in order. A row tied to a key the store guards (an execution
/// dead letter or a sweep's) marks the key dead as of the row's time, so a delivery still on its
/// way (a swept key was never marked dead) is acknowledged without running, while a key an
/// operator reopened after that row stays open and an ended key stays ended; then `Resolve` lets
/// the dead key expire. A trade event's row needs nothing: its key had ended.
pub fn discard_updates(full: &DeadLetterRow) -> Vec<KeyUpdate> {
    let row = &full.summary;
    let Some(key) = row.idempotency_key.clone() else {
        return vec![];
    };
    if row.queue != EXECUTION_DLQ && row.queue != SWEEP_QUEUE {
        return vec![];
    }
    // The signal's identity with the key: a newer signal under a reused key is left alone.
    let received_at_ms = received_at_of(full);
    vec![
        KeyUpdate::MarkDead {
            key: key.clone(),
            reason: row.reason.clone(),
            recorded_at_ms: row.created_at_ms,
            received_at_ms,
        },
        KeyUpdate::Resolve {
            key,
            received_at_ms,
        },
    ]
}

/// The intake time of the row's job, when it has a readable one.
pub fn received_at_of(row: &DeadLetterRow) -> Option<i64> {
    row.job
        .as_deref()
        .and_then(|b64| decode_job(b64).ok())
        .map(|j| j.received_at_ms)
}

/// Discard one dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscardRequest {
    pub reason: String,
}

impl DiscardRequest {
    /// The reason, trimmed; refused when empty or too long.
    pub fn reason(&self) -> Result<&str, RequestError> {
        let r = self.reason.trim();
        if r.is_empty() || r.chars().count() > MAX_DISCARD_REASON {
            return Err(RequestError::Reason);
        }
        Ok(r)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use contracts::signal::parse_webhook;
    use proptest::prelude::*;

    pub fn job(key: &str) -> TradeJob {
        let body = format!(
            r#"{{"exchange":"paper","action":"LONG","symbol":"BTCUSDT","quantity":"0.001","price":65000,"idempotencyKey":"{key}"}}"#
        );
        TradeJob {
            idempotency_key: key.into(),
            request_id: "req".into(),
            received_at_ms: 1,
            signal: parse_webhook(body.as_bytes()).unwrap().signal,
        }
    }

    /// A row as the dlq worker records a kill-switch dead letter.
    pub fn row(id: i64, key: &str) -> DeadLetterRow {
        DeadLetterRow {
            summary: DeadLetterSummary {
                id,
                queue: "trade-execution-dlq".into(),
                idempotency_key: Some(key.into()),
                reason: "kill_switch".into(),
                detail: Some("trade:kill_switch is on".into()),
                attempts: 1,
                last_error: None,
                exchange: Some("paper".into()),
                symbol: Some("BTCUSDT".into()),
                action: Some("LONG".into()),
                status: "pending".into(),
                in_doubt: false,
                created_at_ms: 1_000,
                replays: 0,
                resolved_at_ms: None,
                resolved_by: None,
                resolution: None,
            },
            message_id: format!("m{id}"),
            job: Some(base64::engine::general_purpose::STANDARD.encode(job(key).encode())),
            raw: None,
        }
    }

    #[test]
    fn filters_become_bound_parameters() {
        let (f, paging) = DeadLetterFilter::from_pairs([
            ("reason", "kill_switch"),
            ("symbol", "btc/usdt"),
            ("exchange", "PAPER"),
            ("status", "pending"),
            ("since", "10"),
            ("limit", "5"),
        ])
        .unwrap();
        assert_eq!(f.symbol.as_deref(), Some("BTCUSDT"));
        assert_eq!(f.exchange.as_deref(), Some("paper"));
        let q = list_query(&f, &paging);
        assert_eq!(
            q.sql,
            format!("SELECT {SUMMARY_COLUMNS} FROM dead_letters WHERE reason = ?1 AND exchange = ?2 AND symbol = ?3 AND status = ?4 AND created_at_ms >= ?5 ORDER BY id DESC LIMIT ?6")
        );
        assert_eq!(
            q.params[5],
            Param::Int(6),
            "one extra row tells if more follow"
        );
        let back = DeadLetterFilter::from_pairs(
            f.to_pairs(&paging)
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .unwrap();
        assert_eq!(back, (f, paging));
    }

    #[test]
    fn bad_filters_name_their_field() {
        let e = |pairs: &[(&str, &str)]| {
            DeadLetterFilter::from_pairs(pairs.iter().copied())
                .unwrap_err()
                .field()
                .to_owned()
        };
        assert_eq!(e(&[("status", "gone")]), "status");
        assert_eq!(e(&[("exchange", "ftx")]), "exchange");
        assert_eq!(e(&[("reason", "x'; DROP TABLE")]), "reason");
        assert_eq!(e(&[("since", "yesterday")]), "since");
        assert_eq!(e(&[("sql", "SELECT 1")]), "sql");
    }

    #[test]
    fn a_pending_row_with_a_job_is_replayed_with_its_own_key() {
        let r = row(7, "tv-1");
        match plan(&r) {
            Plan::Replay {
                key,
                received_at_ms,
                job: bytes,
            } => {
                assert_eq!(key, "tv-1");
                assert_eq!(received_at_ms, 1);
                assert_eq!(TradeJob::decode(&bytes).unwrap(), job("tv-1"));
            }
            other => panic!("{other:?}"),
        }
        let detail = DeadLetterDetail::new(r, vec![]);
        assert!(detail.replayable);
        assert_eq!(detail.job.unwrap().idempotency_key, "tv-1");
    }

    #[test]
    fn rows_that_cannot_be_replayed_safely_are_skipped() {
        let mut done = row(1, "k");
        done.summary.status = "replayed".into();
        assert_eq!(plan(&done), Plan::Skip(SkipReason::NotPending));
        let mut no_job = row(2, "k");
        no_job.job = None;
        assert_eq!(plan(&no_job), Plan::Skip(SkipReason::NoJob));
        let mut corrupt = row(3, "k");
        corrupt.job = Some("AQID".into());
        assert_eq!(plan(&corrupt), Plan::Skip(SkipReason::CorruptJob));
        let mut other_key = row(4, "k");
        other_key.summary.idempotency_key = Some("other".into());
        assert_eq!(plan(&other_key), Plan::Skip(SkipReason::CorruptJob));
    }

    #[test]
    fn replay_requests_select_ids_or_a_filter() {
        let by_ids = ReplayRequest {
            ids: vec![3, 1, 3],
            ..Default::default()
        };
        assert_eq!(by_ids.selection(), Ok(Selection::Ids(vec![1, 3])));
        let by_filter = ReplayRequest {
            filter: Some(DeadLetterFilter {
                reason: Some("kill_switch".into()),
                status: Some(Status::Discarded),
                ..Default::default()
            }),
            limit: Some(10),
            ..Default::default()
        };
        match by_filter.selection().unwrap() {
            Selection::Matching(f, 10) => assert_eq!(f.status, Some(Status::Pending)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ReplayRequest::default().selection(),
            Err(RequestError::IdsOrFilter)
        );
        let too_many = ReplayRequest {
            ids: (0..=MAX_REPLAY_BATCH as i64).collect(),
            ..Default::default()
        };
        assert_eq!(too_many.selection(), Err(RequestError::TooMany));
        let q = matching_query(&DeadLetterFilter::default(), 10);
        assert_eq!(q.params, vec![Param::Int(10)]);
    }

    #[test]
    fn discard_needs_a_reason() {
        let r = |s: &str| DiscardRequest { reason: s.into() };
        assert_eq!(r("  dup of #3 ").reason(), Ok("dup of #3"));
        assert_eq!(r("  ").reason(), Err(RequestError::Reason));
        assert_eq!(r(&"x".repeat(501)).reason(), Err(RequestError::Reason));
    }

    #[test]
    fn replay_counts_add_up() {
        let s = row(1, "k").summary;
        let resp = ReplayResponse::new(
            false,
            vec![
                ReplayItem::of(
                    &s,
                    ReplayResult::Replayed {
                        key_state: "accepted".into(),
                        in_doubt: true,
                    },
                ),
                ReplayItem::of(
                    &s,
                    ReplayResult::Skipped {
                        reason: SkipReason::NoJob,
                    },
                ),
                ReplayItem::not_found(9),
            ],
        );
        assert_eq!(resp.counts.replayed, 1);
        assert_eq!(resp.counts.skipped, 1);
        assert_eq!(resp.counts.not_found, 1);
        let json = serde_json::to_value(&resp).unwrap();
        assert_eq!(json["items"][0]["result"], "replayed");
        assert_eq!(json["items"][0]["key_state"], "accepted");
        assert_eq!(json["items"][0]["in_doubt"], true);
        assert_eq!(json["items"][1]["reason"], "no_job");
    }

    #[test]
    fn in_doubt_reads_from_sqlite_integers_json_booleans_and_old_rows() {
        let mut v = serde_json::to_value(row(1, "k").summary).unwrap();
        for (raw, want) in [
            (serde_json::json!(1), true),
            (serde_json::json!(0), false),
            (serde_json::json!(true), true),
            (serde_json::Value::Null, false),
        ] {
            v["in_doubt"] = raw;
            let s: DeadLetterSummary = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(s.in_doubt, want);
        }
        // A row read with the column list of before 0003 (no in_doubt at all).
        v.as_object_mut().unwrap().remove("in_doubt");
        let s: DeadLetterSummary = serde_json::from_value(v).unwrap();
        assert!(!s.in_doubt);
        // The API's JSON says it as a boolean.
        let mut s = row(2, "k").summary;
        s.in_doubt = true;
        assert_eq!(serde_json::to_value(&s).unwrap()["in_doubt"], true);
    }

    #[test]
    fn ended_is_a_status_operators_can_filter_by() {
        let (f, _) = DeadLetterFilter::from_pairs([("status", "ended")]).unwrap();
        assert_eq!(f.status, Some(Status::Ended));
        let mut ended = row(1, "k");
        ended.summary.status = Status::Ended.as_str().into();
        assert_eq!(plan(&ended), Plan::Skip(SkipReason::NotPending));
        assert!(!DeadLetterDetail::new(ended, vec![]).replayable);
    }

    #[test]
    fn the_ledger_check_looks_for_this_very_signal() {
        let q = ledger_fill_query("tv-1", 1_700_000_000_000);
        assert_eq!(
            q.params,
            vec![
                Param::Text(client_order_id("tv-1", 1_700_000_000_000)),
                Param::Text("tv-1".into()),
                Param::Int(1_700_000_000_000),
            ]
        );
        assert!(q.sql.contains("FROM orders WHERE client_order_id = ?1"));
        assert!(q.sql.contains("received_at_ms = ?3"));
        assert!(q
            .sql
            .contains("outcome IN ('filled', 'rejected', 'blocked')"));
        // The same key accepted at another time is another signal: another client order id.
        assert_ne!(ledger_fill_query("tv-1", 1).params[0], q.params[0]);
        let fill = LedgerFill {
            source: "order".into(),
            reference: client_order_id("tv-1", 1),
            status: "Filled".into(),
        };
        assert_eq!(ledger_verdict(Some(&fill)), Some(SkipReason::AlreadyFilled));
        // A stale letter of a signal that ended rejected must not run it again either.
        let rejected = LedgerFill {
            source: "signal".into(),
            reference: "tv-1".into(),
            status: "rejected".into(),
        };
        assert_eq!(
            ledger_verdict(Some(&rejected)),
            Some(SkipReason::AlreadyEnded)
        );
        assert_eq!(
            already_filled_note(&fill),
            format!(
                "the ledger has its order {} (Filled); nothing to replay",
                client_order_id("tv-1", 1)
            )
        );
        let q = mark_ended(3, "cli:op", "n", 7);
        assert!(q.sql.contains("status = 'ended'") && q.sql.ends_with("AND status = 'pending'"));
        assert_eq!(ledger_verdict(None), None);
        assert_eq!(
            serde_json::to_value(SkipReason::AlreadyFilled).unwrap(),
            "already_filled"
        );
    }

    #[test]
    fn a_discard_lets_the_key_expire_and_stops_a_late_delivery() {
        let mut full = row(1, "k");
        full.summary.created_at_ms = 5_000;
        let at = received_at_of(&full);
        let mark = KeyUpdate::MarkDead {
            key: "k".into(),
            reason: "kill_switch".into(),
            recorded_at_ms: 5_000,
            received_at_ms: at,
        };
        let resolve = KeyUpdate::Resolve {
            key: "k".into(),
            received_at_ms: at,
        };
        assert_eq!(discard_updates(&full), vec![mark.clone(), resolve.clone()]);
        full.summary.queue = SWEEP_QUEUE.into();
        full.summary.reason = "unclaimed".into();
        assert_eq!(discard_updates(&full).len(), 2);
        assert!(matches!(
            &discard_updates(&full)[0],
            KeyUpdate::MarkDead { recorded_at_ms: 5_000, reason, .. } if reason == "unclaimed"
        ));
        full.summary.queue = EVENTS_DLQ.into();
        assert_eq!(
            discard_updates(&full),
            vec![],
            "a trade event's key had ended"
        );
    }

    proptest! {
        /// Whatever a caller puts in a filter, the statement text is the same as for any other
        /// values of the same fields: caller input only ever becomes bound parameters.
        #[test]
        fn caller_text_never_reaches_the_sql(reason in "[a-z_]{1,20}", key in ".{1,40}", sym in "[A-Z]{2,6}USDT", since in any::<i64>()) {
            let f = DeadLetterFilter {
                reason: Some(reason),
                symbol: Some(sym),
                idempotency_key: Some(key.clone()),
                since_ms: Some(since),
                ..Default::default()
            }
            .normalized()
            .unwrap();
            let same_shape = DeadLetterFilter {
                reason: Some("r".into()),
                symbol: Some("BTCUSDT".into()),
                idempotency_key: Some("k".into()),
                since_ms: Some(0),
                ..Default::default()
            };
            let p = Paging::default();
            prop_assert_eq!(list_query(&f, &p).sql, list_query(&same_shape, &p).sql);
            prop_assert_eq!(count_query(&f).sql, count_query(&same_shape).sql);
            let q = matching_query(&f, 5);
            prop_assert_eq!(&q.sql, &matching_query(&same_shape, 5).sql);
            prop_assert!(q.params.contains(&Param::Text(key)));
        }
    }
}
