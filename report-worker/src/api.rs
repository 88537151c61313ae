//! The routes (internal key on every one but `/health`): generate, list, fetch, summarise.
//! Failures are answered in the hoox error shape.

use crate::generate::{self, GenerateError};
use crate::store;
use report::period::{self, Kind, Period, PeriodError};
use runtime::http::{json, require_internal, HttpError};
use serde::Deserialize;
use worker::{Env, Headers, Method, Request, Response, Result};

/// `POST /reports`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateRequest {
    period: String,
    #[serde(default)]
    date: Option<String>,
}

fn period_error(e: &PeriodError) -> HttpError {
    let field = match e {
        PeriodError::Kind(_) => "period",
        PeriodError::Date(_) => "date",
        PeriodError::Key(_) => "key",
    };
    HttpError::new(400, "invalid_field", e.to_string()).field(field)
}

fn generate_error(e: &GenerateError) -> HttpError {
    tracing::error!(error = %e, "report not made");
    match e {
        GenerateError::Ledger(_) => HttpError::unavailable("the ledger is unavailable; retry"),
        GenerateError::Storage(_) => HttpError::unavailable("R2 is unavailable; retry"),
        GenerateError::Figures(_) | GenerateError::Books(_) => {
            HttpError::new(500, "report_overflow", e.to_string())
        }
    }
}

pub async fn handle(mut req: Request, env: Env, request_id: String) -> Result<Response> {
    if let Err(e) = require_internal(&req, &env) {
        return e.respond(&request_id);
    }
    let path = req.path();
    let path = path.trim_end_matches('/').to_owned();
    let now = runtime::now_ms();
    match (req.method(), path.as_str()) {
        (Method::Post, "/reports") => {
            let body: GenerateRequest = match req.json().await {
                Ok(b) => b,
                Err(e) => {
                    return HttpError::new(
                        400,
                        "invalid_body",
                        format!(
                            "expected {{\"period\": \"daily|weekly|monthly\", \"date\"?: \"YYYY-MM-DD\"}}: {e}"
                        ),
                    )
                    .respond(&request_id)
                }
            };
            let parsed = Kind::parse(&body.period).and_then(|kind| {
                let day = match &body.date {
                    Some(d) => period::parse_date(d)?,
                    None => period::date_of(now),
                };
                Ok(Period::containing(kind, day))
            });
            let p = match parsed {
                Ok(p) => p,
                Err(e) => return period_error(&e).respond(&request_id),
            };
            if p.start_ms() > now {
                return HttpError::new(400, "invalid_field", "that period has not started")
                    .field("date")
                    .respond(&request_id);
            }
            match generate::make(&env, &p, now, &request_id).await {
                Ok(g) => json(200, &g),
                Err(e) => generate_error(&e).respond(&request_id),
            }
        }
        (Method::Get, "/reports") => {
            let listed = match store::bucket(&env) {
                Ok(b) => store::list(&b).await,
                Err(e) => Err(e),
            };
            match listed {
                Ok(reports) => json(200, &serde_json::json!({ "reports": reports })),
                Err(e) => {
                    tracing::error!(error = %e, "R2 list failed");
                    HttpError::unavailable("R2 is unavailable; retry").respond(&request_id)
                }
            }
        }
        (Method::Get, p) if p.starts_with("/reports/") => {
            get(&env, &p["/".len()..], &request_id).await
        }
        (Method::Get, "/summary") => summary(&req, &env, now, &request_id).await,
        (_, "/reports") => HttpError::method_not_allowed("GET, POST").respond(&request_id),
        _ => HttpError::not_found("no such route").respond(&request_id),
    }
}

/// Streams one stored file.
async fn get(env: &Env, key: &str, request_id: &str) -> Result<Response> {
    let format = match period::parse_key(key) {
        Ok((_, f)) => f,
        Err(e) => return period_error(&e).respond(request_id),
    };
    let object = match store::bucket(env) {
        Ok(b) => b.get(key).execute().await,
        Err(e) => Err(e),
    };
    let object = match object {
        Ok(Some(o)) => o,
        Ok(None) => return HttpError::not_found(format!("no report {key}")).respond(request_id),
        Err(e) => {
            tracing::error!(error = %e, "R2 get failed");
            return HttpError::unavailable("R2 is unavailable; retry").respond(request_id);
        }
    };
    let size = object.size();
    let Some(body) = object.body() else {
        return HttpError::not_found(format!("no report {key}")).respond(request_id);
    };
    let headers = Headers::new();
    headers.set("content-type", format.content_type())?;
    headers.set("content-length", &size.to_string())?;
    let file = key.rsplit('/').next().unwrap_or(key);
    headers.set(
        "content-disposition",
        &format!("inline; filename=\"hoox-{}\"", file.replace('"', "")),
    )?;
    Ok(Response::from_body(body.response_body()?)?.with_headers(headers))
}

/// `GET /summary?period=daily|weekly|monthly|all&n=N`.
async fn summary(req: &Request, env: &Env, now: i64, request_id: &str) -> Result<Response> {
    let (mut kind, mut n) = (Some(Kind::Daily), 7u32);
    for (k, v) in req.url()?.query_pairs() {
        match k.as_ref() {
            "period" if v == "all" => kind = None,
            "period" => match Kind::parse(&v) {
                Ok(k) => kind = Some(k),
                Err(e) => return period_error(&e).respond(request_id),
            },
            "n" => match v.parse::<u32>() {
                Ok(x) if (1..=31).contains(&x) => n = x,
                _ => {
                    return HttpError::new(400, "invalid_field", "n must be 1 to 31")
                        .field("n")
                        .respond(request_id)
                }
            },
            _ => {}
        }
    }
    match generate::summary(env, kind, n, now).await {
        Ok(s) => json(200, &serde_json::json!({ "periods": s })),
        Err(e) => generate_error(&e).respond(request_id),
    }
}
