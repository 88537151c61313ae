//! The routes of the read API. Each handler parses typed filters (`ops`), runs the statements
//! `ops` builds, and answers JSON; failures map to the hoox error shape.

use ops::audit::{self, AuditEntry, AuditFilter, NewAudit};
use ops::dead_letters;
use ops::dead_letters::DeadLetterFilter;
use ops::ledger::{self, Count, LedgerFilter, SignalRow, Stats, TradeRow};
use ops::pnl::{self, LedgerFill, PnlError};
use ops::query::{FilterError, Page};
use ops::reconcile::{self, EquityRow, PositionRow, PositionsFilter, PositionsView};
use ops::trail::{Feed, FeedCursor, SignalTrail, TrailDeadLetter, FEED_LIMIT};
use runtime::d1;
use runtime::http::{json, require_internal, HttpError};
use worker::{D1Database, Env, Method, Request, Response, Result};

pub const DB_BINDING: &str = "DB";

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error("invalid body: {0}")]
    Body(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("the ledger is unavailable")]
    Db(#[from] worker::Error),
    /// The ledger holds fills whose fold overflows a decimal.
    #[error(transparent)]
    Positions(#[from] PnlError),
}

impl From<&ApiError> for HttpError {
    fn from(e: &ApiError) -> Self {
        match e {
            ApiError::Filter(f) => {
                HttpError::new(400, "invalid_field", f.to_string()).field(f.field())
            }
            ApiError::Body(m) => HttpError::new(400, "invalid_body", m.clone()),
            ApiError::NotFound(what) => HttpError::not_found(format!("no such {what}")),
            ApiError::Positions(p) => {
                tracing::error!(error = %p, "positions cannot be derived");
                HttpError::new(500, "positions_overflow", p.to_string())
            }
            ApiError::Db(d) => {
                tracing::error!(error = %d, "D1 query failed");
                HttpError::unavailable("the ledger is unavailable; retry")
            }
        }
    }
}

fn pairs(req: &Request) -> Result<Vec<(String, String)>> {
    Ok(req
        .url()?
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

fn borrowed(p: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    p.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

pub async fn handle(mut req: Request, env: Env, request_id: String) -> Result<Response> {
    let path = req.path();
    let path = path.trim_end_matches('/');
    if let Err(e) = require_internal(&req, &env) {
        return e.respond(&request_id);
    }
    let db = match env.d1(DB_BINDING) {
        Ok(db) => db,
        Err(e) => return HttpError::from(&ApiError::Db(e)).respond(&request_id),
    };
    let q = pairs(&req)?;
    let result = match (req.method(), path) {
        (Method::Get, "/trades") => trades(&db, &q).await,
        (Method::Get, "/signals") => signals(&db, &q).await,
        (Method::Get, "/positions") => positions(&db, &q).await,
        (Method::Get, "/stats") => stats(&db, &q).await,
        (Method::Get, "/equity") => equity(&db, &q).await,
        (Method::Get, "/feed") => feed(&db, &q).await,
        (Method::Get, p) if p.starts_with("/signals/") => {
            trail(&db, p.trim_start_matches("/signals/")).await
        }
        (Method::Get, "/dead-letters") => dead_letters(&db, &q).await,
        (Method::Get, p) if p.starts_with("/dead-letters/") => {
            dead_letter(&db, &p["/dead-letters/".len()..]).await
        }
        (Method::Get, "/audit") => audit_list(&db, &q).await,
        (Method::Post, "/audit") => {
            let body = req.text().await?;
            append_audit(&db, &body, &request_id).await
        }
        _ => return HttpError::not_found("no such route").respond(&request_id),
    };
    match result {
        Ok(value) => json(200, &value),
        Err(e) => HttpError::from(&e).respond(&request_id),
    }
}

type Answer = std::result::Result<serde_json::Value, ApiError>;

fn to_json<T: serde::Serialize>(v: &T) -> Answer {
    serde_json::to_value(v).map_err(|e| ApiError::Body(e.to_string()))
}

async fn trades(db: &D1Database, q: &[(String, String)]) -> Answer {
    let (f, paging) = LedgerFilter::from_pairs(borrowed(q))?;
    let rows: Vec<TradeRow> = d1::all(db, &ledger::trades_query(&f, &paging)).await?;
    to_json(&Page::from_rows(rows, paging.limit(), ledger::trade_cursor))
}

async fn signals(db: &D1Database, q: &[(String, String)]) -> Answer {
    let (f, paging) = LedgerFilter::from_pairs(borrowed(q))?;
    let rows: Vec<SignalRow> = d1::all(db, &ledger::signals_query(&f, &paging)).await?;
    to_json(&Page::from_rows(
        rows,
        paging.limit(),
        ledger::signal_cursor,
    ))
}

/// The exchanges' positions as last read (live, testnet and paper rows, each with its
/// reconcile flag), what hoox's fills imply, realised PnL per closed position and the latest
/// equity snapshots. Filters: `exchange`, `network` (`mainnet`/`testnet`), `flagged=true`.
async fn positions(db: &D1Database, q: &[(String, String)]) -> Answer {
    let f = PositionsFilter::from_pairs(borrowed(q))?;
    let (rows_q, fills_q, equity_q) = (
        reconcile::positions_query(&f),
        pnl::fills_query(),
        reconcile::latest_equity_query(&f),
    );
    let (rows, fills, equity) = futures::join!(
        d1::all::<PositionRow>(db, &rows_q),
        d1::all::<LedgerFill>(db, &fills_q),
        d1::all::<EquityRow>(db, &equity_q),
    );
    let books = pnl::fold(&fills?)?;
    // Paper has no exchange to read: its rows are its books, derived on every read.
    let mut rows: Vec<PositionRow> = rows?;
    rows.extend(
        reconcile::paper_rows(&books, runtime::now_ms())
            .into_iter()
            .filter(|p| f.keeps(p)),
    );
    to_json(&PositionsView::new(rows, books, equity?, &f)?)
}

/// The ledger at a glance; `since=<ms>` adds the signals received since then by outcome.
async fn stats(db: &D1Database, q: &[(String, String)]) -> Answer {
    let since = epoch_ms(q, "since")?;
    let [by_outcome, by_status, orders, last_signal] = ledger::stats_queries();
    let last_trade = ledger::last_trade_query();
    let since_q = ledger::outcomes_since_query(since.unwrap_or(i64::MAX));
    let (a, b, c, d, last, recent) = futures::join!(
        d1::all::<Count>(db, &by_outcome),
        d1::all::<Count>(db, &by_status),
        d1::all::<Count>(db, &orders),
        d1::all::<Count>(db, &last_signal),
        d1::first::<TradeRow>(db, &last_trade),
        d1::all::<Count>(db, &since_q),
    );
    let mut stats = Stats::from_counts(a?, b?, c?, d?, last?);
    stats.since = ledger::count_map(recent?);
    to_json(&stats)
}

/// An epoch-ms query parameter, if present.
fn epoch_ms(q: &[(String, String)], name: &'static str) -> Result<Option<i64>, ApiError> {
    q.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| {
            v.parse::<i64>()
                .ok()
                .filter(|t| *t >= 0)
                .ok_or_else(|| FilterError::Invalid {
                    field: name,
                    message: "epoch milliseconds expected".into(),
                })
        })
        .transpose()
        .map_err(ApiError::from)
}

/// Daily equity snapshots of the last `days` (default 90, at most 730), oldest first.
async fn equity(db: &D1Database, q: &[(String, String)]) -> Answer {
    let days = match q.iter().find(|(k, _)| k == "days") {
        None => 90,
        Some((_, v)) => v
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=730).contains(d))
            .ok_or(FilterError::Invalid {
                field: "days",
                message: "1 to 730 days".into(),
            })?,
    };
    let since = reconcile::day_of(runtime::now_ms() - days * 86_400_000);
    let rows: Vec<EquityRow> = d1::all(db, &reconcile::equity_series_query(&since)).await?;
    to_json(&rows)
}

/// What changed after `cursor` (`trail::FeedCursor`); without one, the last minute of each.
async fn feed(db: &D1Database, q: &[(String, String)]) -> Answer {
    let cursor = match q.iter().find(|(k, _)| k == "cursor") {
        Some((_, v)) => Some(FeedCursor::parse(v).ok_or(FilterError::Invalid {
            field: "cursor",
            message: "not a feed cursor".into(),
        })?),
        None => None,
    };
    let minute_ago = runtime::now_ms() - 60_000;
    let from = cursor.unwrap_or(FeedCursor {
        signals_ms: minute_ago,
        dead_letters_ms: minute_ago,
        audit_id: 0,
    });
    let (s, d, a) = (
        ledger::signals_since_query(from.signals_ms, FEED_LIMIT),
        dead_letters::since_query(from.dead_letters_ms, FEED_LIMIT),
        match cursor {
            Some(c) => audit::since_query(c.audit_id, FEED_LIMIT),
            None => audit::recent_query(minute_ago, FEED_LIMIT),
        },
    );
    let (signals, dls, entries) = futures::join!(
        d1::all::<SignalRow>(db, &s),
        d1::all::<TrailDeadLetter>(db, &d),
        d1::all::<AuditEntry>(db, &a),
    );
    to_json(&Feed::new(from, signals?, dls?, entries?))
}

/// Everything the ledger holds about one idempotency key (`/signals/<key>`, percent-encoded).
async fn trail(db: &D1Database, raw_key: &str) -> Answer {
    let key = percent_encoding::percent_decode_str(raw_key)
        .decode_utf8()
        .map_err(|_| ApiError::Body("the key is not UTF-8".into()))?
        .into_owned();
    if key.is_empty() || key.len() > 300 {
        return Err(ApiError::NotFound("signal"));
    }
    let (s, o, d) = (
        ledger::signal_query(&key),
        ledger::orders_of_query(&key),
        dead_letters::by_key_query(&key),
    );
    let (signal, orders, dls) = futures::join!(
        d1::first::<SignalRow>(db, &s),
        d1::all::<TradeRow>(db, &o),
        d1::all::<TrailDeadLetter>(db, &d),
    );
    let dead_letters = dls?;
    let targets: Vec<String> = dead_letters
        .iter()
        .map(|d| audit::dead_letter_target(d.summary.id))
        .chain([audit::signal_target(&key)])
        .collect();
    let audit = d1::all::<AuditEntry>(db, &audit::about_query(&targets)).await?;
    let trail = SignalTrail {
        key,
        signal: signal?,
        orders: orders?,
        dead_letters,
        audit,
    };
    if trail.signal.is_none() && trail.orders.is_empty() && trail.dead_letters.is_empty() {
        return Err(ApiError::NotFound("signal"));
    }
    to_json(&trail)
}

async fn dead_letters(db: &D1Database, q: &[(String, String)]) -> Answer {
    let (f, paging) = DeadLetterFilter::from_pairs(borrowed(q))?;
    to_json(&d1::dead_letter_list(db, &f, &paging).await?)
}

async fn dead_letter(db: &D1Database, id: &str) -> Answer {
    let id: i64 = id.parse().map_err(|_| FilterError::Invalid {
        field: "id",
        message: "not a dead letter id".into(),
    })?;
    let detail = d1::dead_letter_detail(db, id).await?;
    to_json(&detail.ok_or(ApiError::NotFound("dead letter"))?)
}

async fn audit_list(db: &D1Database, q: &[(String, String)]) -> Answer {
    let (f, paging) = AuditFilter::from_pairs(borrowed(q))?;
    let rows = d1::all(db, &audit::list_query(&f, &paging)).await?;
    to_json(&Page::from_rows(rows, paging.limit(), audit::cursor_of))
}

async fn append_audit(db: &D1Database, body: &str, request_id: &str) -> Answer {
    let mut entry: NewAudit =
        serde_json::from_str(body).map_err(|e| ApiError::Body(e.to_string()))?;
    if entry.target.trim().is_empty() || entry.target.len() > 200 || entry.detail.len() > 4_000 {
        return Err(ApiError::Body(
            "target (1-200) and detail (≤ 4000) bounds".into(),
        ));
    }
    entry
        .request_id
        .get_or_insert_with(|| request_id.to_owned());
    d1::run(db, &entry.insert(runtime::now_ms())).await?;
    tracing::info!(actor = %entry.actor, action = entry.action.as_str(), target = %entry.target, "audit entry appended");
    to_json(&serde_json::json!({"recorded": true}))
}
