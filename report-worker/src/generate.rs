//! One report end to end: the ledger read for the period, the figures (`report::compute`), the
//! HTML, the PDF (when Browser Rendering is configured), the three R2 files, and the document
//! sent to Telegram. Also the cron's catch-up of due reports and the bot's summaries.

use crate::{pdf, store};
use base64::Engine as _;
use ops::ledger::Count;
use ops::pnl::{self, LedgerFill};
use ops::reconcile::{self, EquityRow, PositionRow, PositionsFilter};
use report::metrics::{self, Funnel, Ledger, PeriodSummary, Report};
use report::period::{self, Format, Kind, Period};
use runtime::d1;
use serde::{Deserialize, Serialize};
use worker::{D1Database, Env, Method};

pub const DB_BINDING: &str = "DB";
pub const REPORT_HOUR_VAR: &str = "REPORT_HOUR_UTC";

/// Why a report was not made.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("the ledger is unavailable: {0}")]
    Ledger(String),
    #[error(transparent)]
    Figures(#[from] metrics::ReportError),
    #[error(transparent)]
    Books(#[from] pnl::PnlError),
    #[error("R2 is unavailable: {0}")]
    Storage(String),
}

/// Whether the PDF was made, and if not why.
#[derive(Debug, Clone, Serialize)]
pub struct PdfStatus {
    pub rendered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What Telegram did with the document (`TELEGRAM_SERVICE /document`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Delivery {
    #[serde(default)]
    pub chats: u32,
    #[serde(default)]
    pub sent: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// `POST /reports`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    pub kind: Kind,
    pub period: String,
    pub span: String,
    pub keys: Vec<String>,
    pub pdf: PdfStatus,
    pub telegram: Delivery,
    pub summary: PeriodSummary,
}

fn db(env: &Env) -> Result<D1Database, GenerateError> {
    env.d1(DB_BINDING)
        .map_err(|e| GenerateError::Ledger(e.to_string()))
}

fn count(rows: &[Count], name: &str) -> u64 {
    rows.iter()
        .filter(|c| c.name.as_deref() == Some(name))
        .map(|c| c.n.max(0) as u64)
        .sum()
}

/// The ledger rows a report of `window` (`[from_ms, to_ms)`, days `first..=after`) needs.
async fn read(
    db: &D1Database,
    from_ms: i64,
    to_ms: i64,
    first_day: &str,
    after_day: &str,
) -> Result<Ledger, GenerateError> {
    let fail = |e: worker::Error| GenerateError::Ledger(e.to_string());
    let (fills_q, equity_q, positions_q) = (
        pnl::fills_query(),
        ops::report::equity_range_query(first_day, after_day),
        reconcile::positions_query(&PositionsFilter::default()),
    );
    let (outcomes_q, dead_q, pending_q) = (
        ops::report::signal_outcomes_query(from_ms, to_ms),
        ops::report::dead_lettered_query(from_ms, to_ms),
        ops::report::pending_dead_letters_query(),
    );
    let (fills, equity, positions, outcomes, dead, pending) = futures::join!(
        d1::all::<LedgerFill>(db, &fills_q),
        d1::all::<EquityRow>(db, &equity_q),
        d1::all::<PositionRow>(db, &positions_q),
        d1::all::<Count>(db, &outcomes_q),
        d1::all::<Count>(db, &dead_q),
        d1::all::<Count>(db, &pending_q),
    );
    let outcomes = outcomes.map_err(fail)?;
    let funnel = Funnel::from_counts(
        outcomes
            .iter()
            .filter_map(|c| Some((c.name.as_deref()?, c.n.max(0) as u64))),
        count(&dead.map_err(fail)?, "dead_lettered"),
    );
    Ok(Ledger {
        books: pnl::fold(&fills.map_err(fail)?)?,
        equity: equity.map_err(fail)?,
        positions: positions.map_err(fail)?,
        funnel,
        pending_dead_letters: count(&pending.map_err(fail)?, "pending"),
    })
}

async fn ledger_of(db: &D1Database, p: &Period) -> Result<Ledger, GenerateError> {
    let day = |d: time::Date| d.format(ops::utc::DAY).unwrap_or_default();
    read(db, p.start_ms(), p.end_ms(), &day(p.start), &day(p.end())).await
}

/// Computes, renders, stores and delivers the report of `period`.
pub async fn make(
    env: &Env,
    period: &Period,
    now_ms: i64,
    request_id: &str,
) -> Result<Generated, GenerateError> {
    let db = db(env)?;
    let ledger = ledger_of(&db, period).await?;
    let report = metrics::compute(period, &ledger, now_ms)?;
    let html = report::html::render(&report);
    let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    let rendered = pdf::render(env, &html).await;
    let status = match &rendered {
        Ok(_) => PdfStatus {
            rendered: true,
            reason: None,
        },
        Err(e) => {
            match e {
                pdf::PdfError::NoToken | pdf::PdfError::NoAccount => {
                    tracing::info!(reason = %e, "PDF not rendered")
                }
                _ => tracing::error!(error = %e, "PDF not rendered"),
            }
            PdfStatus {
                rendered: false,
                reason: Some(e.to_string()),
            }
        }
    };
    let pdf_note = if status.rendered {
        "rendered".to_owned()
    } else {
        status.reason.clone().unwrap_or_default()
    };
    let storage = |e: worker::Error| GenerateError::Storage(e.to_string());
    let bucket = store::bucket(env).map_err(storage)?;
    let mut keys = Vec::new();
    match &rendered {
        Ok(bytes) => {
            store::put(
                &bucket,
                period,
                Format::Pdf,
                bytes.clone(),
                now_ms,
                &pdf_note,
            )
            .await
            .map_err(storage)?;
            keys.push(period.key(Format::Pdf));
        }
        // A rerun that could not render leaves no older PDF beside the new figures.
        Err(_) => bucket
            .delete(period.key(Format::Pdf))
            .await
            .map_err(storage)?,
    }
    store::put(
        &bucket,
        period,
        Format::Html,
        html.clone().into_bytes(),
        now_ms,
        &pdf_note,
    )
    .await
    .map_err(storage)?;
    keys.push(period.key(Format::Html));
    // The JSON last: its presence is what the cron takes for "stored".
    store::put(&bucket, period, Format::Json, json, now_ms, &pdf_note)
        .await
        .map_err(storage)?;
    keys.push(period.key(Format::Json));
    tracing::info!(kind = period.kind.as_str(), period = %period.label(), pdf = status.rendered, "report stored");
    let telegram = deliver(env, &report, rendered.ok(), html, request_id).await;
    Ok(Generated {
        kind: period.kind,
        period: period.label(),
        span: period.span(),
        keys,
        pdf: status,
        telegram,
        summary: report.summary(),
    })
}

/// The document body `TELEGRAM_SERVICE /document` takes.
#[derive(Serialize)]
struct Document {
    filename: String,
    content_type: &'static str,
    caption: String,
    /// Base64 of the file.
    document: String,
}

/// Sends the PDF (or, without one, the HTML) to the allowed chats. A failure is logged and
/// answered, never fatal: the report is stored and can be fetched.
async fn deliver(
    env: &Env,
    report: &Report,
    pdf: Option<Vec<u8>>,
    html: String,
    request_id: &str,
) -> Delivery {
    let rendered = pdf.is_some();
    let (format, bytes) = match pdf {
        Some(b) => (Format::Pdf, b),
        None => (Format::Html, html.into_bytes()),
    };
    let doc = Document {
        filename: format!(
            "hoox-{}-{}.{}",
            report.period.kind.as_str(),
            report.label,
            format.ext()
        ),
        content_type: format.content_type(),
        caption: alerts::format::report_caption(report, rendered),
        document: base64::engine::general_purpose::STANDARD.encode(&bytes),
    };
    match runtime::service::call::<Document, Delivery>(
        env,
        runtime::alert::TELEGRAM_SERVICE,
        Method::Post,
        "/document",
        Some(&doc),
        request_id,
        None,
    )
    .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "report not delivered to Telegram");
            Delivery {
                skipped: Some(e.to_string()),
                ..Delivery::default()
            }
        }
    }
}

/// The cron: every due report (`report::period::due`) that is not stored yet.
pub async fn due(env: &Env, now_ms: i64) {
    let hour = env
        .var(REPORT_HOUR_VAR)
        .ok()
        .and_then(|v| v.to_string().trim().parse::<u8>().ok())
        .filter(|h| *h < 24)
        .unwrap_or(0);
    let bucket = match store::bucket(env) {
        Ok(b) => b,
        Err(e) => return tracing::error!(error = %e, "no reports bucket"),
    };
    for p in period::due(now_ms, hour) {
        match store::exists(&bucket, &p).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, period = %p.label(), "R2 unavailable; next run retries");
                continue;
            }
        }
        let request_id = format!("cron-{}-{}", p.kind.as_str(), p.label());
        match make(env, &p, now_ms, &request_id).await {
            Ok(g) => {
                tracing::info!(kind = p.kind.as_str(), period = %g.period, pdf = g.pdf.rendered, sent = g.telegram.sent, "scheduled report made")
            }
            Err(e) => {
                tracing::error!(error = %e, period = %p.label(), "scheduled report failed; next run retries")
            }
        }
    }
}

/// The bot's `/daily n` ... (the last `n` periods of `kind`, newest first) and `/profit`
/// (`kind` `None`: every closed position).
pub async fn summary(
    env: &Env,
    kind: Option<Kind>,
    n: u32,
    now_ms: i64,
) -> Result<Vec<PeriodSummary>, GenerateError> {
    let db = db(env)?;
    let Some(kind) = kind else {
        let ledger = read(&db, 0, i64::MAX, "0000-00-00", "0000-00-00").await?;
        return Ok(vec![metrics::profit(&ledger)]);
    };
    let newest = Period::current(kind, now_ms);
    let mut periods = vec![newest];
    for _ in 1..n.clamp(1, 31) {
        if let Some(last) = periods.last() {
            periods.push(last.previous());
        }
    }
    let oldest = periods.last().copied().unwrap_or(newest);
    let day = |d: time::Date| d.format(ops::utc::DAY).unwrap_or_default();
    let ledger = read(
        &db,
        oldest.start_ms(),
        newest.end_ms(),
        &day(oldest.start),
        &day(newest.end()),
    )
    .await?;
    periods
        .iter()
        .map(|p| Ok(metrics::compute(p, &ledger, now_ms)?.summary()))
        .collect()
}
