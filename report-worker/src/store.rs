//! The reports in R2 (`REPORTS_BUCKET`, `trade-reports`): each report's `.html`, `.json` (the
//! figures) and, when rendered, `.pdf` under `report::period::Period::key`, each with custom
//! metadata `kind`, `period`, `generated_at` (UTC, RFC 3339-like), `size` (bytes) and `pdf`
//! (`rendered`, or why not). Writing a period again overwrites its keys, and a rerun that could
//! not render deletes the older PDF, so what is stored is always one run's report.

use report::period::{Format, Period, PREFIX};
use serde::Serialize;
use std::collections::HashMap;
use worker::{Bucket, Data, Env, HttpMetadata, Include};

pub const BUCKET: &str = "REPORTS_BUCKET";

/// One stored file, as `GET /reports` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Stored {
    pub key: String,
    pub size: u64,
    pub kind: Option<String>,
    pub period: Option<String>,
    pub generated_at: Option<String>,
    pub pdf: Option<String>,
}

pub fn bucket(env: &Env) -> worker::Result<Bucket> {
    env.bucket(BUCKET)
}

fn metadata(
    period: &Period,
    generated_at_ms: i64,
    size: usize,
    pdf: &str,
) -> HashMap<String, String> {
    HashMap::from([
        ("kind".to_owned(), period.kind.as_str().to_owned()),
        ("period".to_owned(), period.label()),
        (
            "generated_at".to_owned(),
            ops::utc::format(generated_at_ms, ops::utc::SECOND).replace(' ', "T") + "Z",
        ),
        ("size".to_owned(), size.to_string()),
        ("pdf".to_owned(), pdf.to_owned()),
    ])
}

/// Stores one file of a report.
pub async fn put(
    bucket: &Bucket,
    period: &Period,
    format: Format,
    bytes: Vec<u8>,
    generated_at_ms: i64,
    pdf: &str,
) -> worker::Result<()> {
    let meta = metadata(period, generated_at_ms, bytes.len(), pdf);
    bucket
        .put(period.key(format), Data::Bytes(bytes))
        .http_metadata(HttpMetadata {
            content_type: Some(format.content_type().to_owned()),
            ..HttpMetadata::default()
        })
        .custom_metadata(meta)
        .execute()
        .await?;
    Ok(())
}

/// Whether the report of `period` is stored (its `.json` is written last).
pub async fn exists(bucket: &Bucket, period: &Period) -> worker::Result<bool> {
    Ok(bucket.head(period.key(Format::Json)).await?.is_some())
}

/// Every stored report file, newest key last within each kind (up to 1000 per page, paged).
pub async fn list(bucket: &Bucket) -> worker::Result<Vec<Stored>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = bucket
            .list()
            .prefix(PREFIX)
            .include(vec![Include::CustomMetadata]);
        if let Some(c) = cursor.take() {
            req = req.cursor(c);
        }
        let page = req.execute().await?;
        for o in page.objects() {
            let meta = o.custom_metadata().unwrap_or_default();
            out.push(Stored {
                key: o.key(),
                size: o.size(),
                kind: meta.get("kind").cloned(),
                period: meta.get("period").cloned(),
                generated_at: meta.get("generated_at").cloned(),
                pdf: meta.get("pdf").cloned(),
            });
        }
        match (page.truncated(), page.cursor()) {
            (true, Some(c)) => cursor = Some(c),
            _ => break,
        }
    }
    Ok(out)
}
