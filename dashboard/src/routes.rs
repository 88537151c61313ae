//! The dashboard's routes (paths as the gateway forwards them, its `/dashboard` prefix
//! removed). Every answer carries `console::guard::SECURITY_HEADERS`. Without a session a page
//! redirects to the login and anything else is `401`; every `POST` is refused before its form
//! is acted on unless its `Origin` is this dashboard's and its CSRF token the session's. The
//! data comes from the workers that own it (d1-worker's ledger API, the dlq worker's operator
//! API, the agent- and report-workers, the trade-worker's `POST /signals`), called with the
//! internal key and the signed-in user as the audit actor; config writes go through
//! `runtime::config::set`, the one writer.

use crate::auth::{self, AuthError, Signed};
use console::guard::{self, Forgery};
use console::views::{self, Chrome};
use maud::Markup;
use ops::dead_letters::{DeadLetterDetail, DeadLetterList, ReplayResponse};
use ops::ledger::{SignalRow, Stats, TradeRow};
use ops::query::Page;
use ops::reconcile::{EquityRow, PositionsView};
use ops::trail::{Feed, SignalTrail};
use runtime::service::ServiceError;
use serde::de::DeserializeOwned;
use serde_json::json;
use worker::{Env, Headers, Method, Request, Response, Result};

/// Largest form body read.
const MAX_FORM_BYTES: usize = 16 * 1024;
/// The header the gateway sets to the origin it received the request at.
pub const ORIGIN_HEADER: &str = "X-Hoox-Origin";

/// What a route answers before the security headers are added.
enum Answer {
    Html(u16, Markup),
    Redirect(String, Option<String>),
    Json(u16, serde_json::Value),
    Raw(Response),
}

/// The gateway path the dashboard is served under (its registry route).
pub fn base() -> &'static str {
    registry::by_worker("dashboard")
        .and_then(|d| d.routes.first())
        .map_or("/dashboard", |r| r.path)
}

pub async fn handle(req: Request, env: Env, request_id: String) -> Result<Response> {
    let answer = route(req, &env, &request_id).await;
    let mut resp = match answer {
        Ok(Answer::Html(status, m)) => Response::from_html(m.into_string())?.with_status(status),
        Ok(Answer::Redirect(to, cookie)) => {
            let r = Response::empty()?.with_status(303);
            r.headers().set("Location", &to)?;
            if let Some(c) = cookie {
                r.headers().set("Set-Cookie", &c)?;
            }
            r
        }
        Ok(Answer::Json(status, v)) => runtime::http::json(status, &v)?,
        Ok(Answer::Raw(r)) => {
            // A fetched answer's headers are immutable: the security headers go on a copy.
            let own = Headers::new();
            for (k, v) in r.headers().entries() {
                own.set(&k, &v)?;
            }
            r.with_headers(own)
        }
        Err(e) => {
            tracing::error!(request_id = %request_id, error = %e, "dashboard request failed");
            Response::from_html(
                views::bare(
                    base(),
                    "Unavailable",
                    maud::html! { p.notice.bad { (e.to_string()) } },
                )
                .into_string(),
            )?
            .with_status(503)
        }
    };
    // An asset keeps its own caching; every other answer is `no-store`.
    let headers = resp.headers_mut();
    for (k, v) in guard::SECURITY_HEADERS {
        if k == "Cache-Control" && headers.has("Cache-Control")? {
            continue;
        }
        headers.set(k, v)?;
    }
    Ok(resp)
}

/// A failure the page explains.
#[derive(Debug, thiserror::Error)]
enum RouteError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Worker(#[from] worker::Error),
}

async fn route(
    mut req: Request,
    env: &Env,
    request_id: &str,
) -> std::result::Result<Answer, RouteError> {
    let base = base();
    let path = req.path();
    let method = req.method();
    if let Some(file) = path.strip_prefix("/assets") {
        if method == Method::Get && file.starts_with('/') {
            // The assets directory is the binding's root: `/assets/app.js` is its `/app.js`.
            let assets = env.assets("ASSETS")?;
            return Ok(Answer::Raw(
                assets
                    .fetch(format!("https://assets.local{file}"), None)
                    .await?,
            ));
        }
    }
    let signed = auth::session(&req, env).await?;
    if method == Method::Post {
        if let Err(f) = guard::same_origin(origin(&req).as_deref(), &expected_origin(&req, env)) {
            return Ok(forged(&f, path.as_str()));
        }
    }
    match (method.clone(), path.as_str()) {
        (Method::Get, "/login") => {
            if signed.is_some() {
                return Ok(Answer::Redirect(format!("{base}/"), None));
            }
            Ok(Answer::Html(
                200,
                views::login::page(base, &auth::user_name(env), None),
            ))
        }
        (Method::Post, "/login") => {
            let form = read_form(&mut req).await?;
            let ip = req.headers().get("cf-connecting-ip").ok().flatten();
            let user = field(&form, "user");
            match auth::login(env, ip.as_deref(), user, field(&form, "password")).await {
                Ok((cookie, _)) => Ok(Answer::Redirect(format!("{base}/"), Some(cookie))),
                Err(e @ AuthError::Wrong) => Ok(Answer::Html(
                    401,
                    views::login::page(base, user, Some(&e.to_string())),
                )),
                Err(e @ AuthError::Locked(_)) => Ok(Answer::Html(
                    429,
                    views::login::page(base, user, Some(&e.to_string())),
                )),
                Err(e) => Err(e.into()),
            }
        }
        _ => {
            let Some(signed) = signed else {
                return Ok(if method == Method::Get && !path.ends_with(".json") {
                    Answer::Redirect(format!("{base}/login"), None)
                } else {
                    Answer::Json(
                        401,
                        json!({"error": {"code": "unauthorized", "message": "log in first"}}),
                    )
                });
            };
            let form = if method == Method::Post {
                let form = read_form(&mut req).await?;
                if !signed.session.csrf_matches(field(&form, "csrf")) {
                    return Ok(forged(&Forgery::Token, &path));
                }
                form
            } else {
                vec![]
            };
            let query = query_of(&req)?;
            let ctx = Ctx {
                env,
                request_id,
                signed: &signed,
                config: config_badges(env).await,
            };
            signed_route(&ctx, method, &path, &query, &form).await
        }
    }
}

fn forged(f: &Forgery, path: &str) -> Answer {
    tracing::warn!(path, refusal = %f, "state-changing request refused");
    Answer::Html(
        403,
        views::bare(
            base(),
            "Refused",
            maud::html! { p.notice.bad role="alert" { "Refused: " (f.to_string()) } },
        ),
    )
}

fn origin(req: &Request) -> Option<String> {
    req.headers().get("origin").ok().flatten()
}

/// `DASHBOARD_ORIGIN` when set, else the origin the gateway received the request at (a header
/// the gateway always overwrites). Neither: nothing matches, so every POST is refused.
fn expected_origin(req: &Request, env: &Env) -> String {
    env.var("DASHBOARD_ORIGIN")
        .map(|v| v.to_string())
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| req.headers().get(ORIGIN_HEADER).ok().flatten())
        .unwrap_or_else(|| "-".into())
}

type Form = Vec<(String, String)>;

async fn read_form(req: &mut Request) -> std::result::Result<Form, RouteError> {
    let body = runtime::http::read_capped(
        <worker::web_sys::Request as Clone>::clone(req.inner()),
        MAX_FORM_BYTES,
    )
    .await
    .map_err(|e| worker::Error::RustError(e.message))?;
    Ok(form_urlencoded::parse(&body).into_owned().collect())
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn query_of(req: &Request) -> Result<Vec<(String, String)>> {
    Ok(req
        .url()?
        .query_pairs()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// The kill switch and mode for the header, and the pauses for the overview.
struct Badges {
    kill_switch: Option<bool>,
    mode: Option<&'static str>,
    paused: Vec<contracts::pause::EntryPause>,
}

async fn config_badges(env: &Env) -> Badges {
    match runtime::config::load(env).await {
        Ok(c) => Badges {
            kill_switch: Some(c.kill_switch),
            mode: Some(match c.mode {
                contracts::config::Mode::Paper => "paper",
                contracts::config::Mode::Live => "live",
            }),
            paused: c.entries_paused.clone(),
        },
        Err(e) => {
            tracing::error!(error = %e, "config unreadable");
            Badges {
                kill_switch: None,
                mode: None,
                paused: vec![],
            }
        }
    }
}

struct Ctx<'a> {
    env: &'a Env,
    request_id: &'a str,
    signed: &'a Signed,
    config: Badges,
}

impl Ctx<'_> {
    fn chrome(&self, current: &'static str) -> Chrome<'_> {
        Chrome {
            base: base(),
            user: &self.signed.session.user,
            csrf: &self.signed.session.csrf,
            kill_switch: self.config.kill_switch,
            mode: self.config.mode,
            current,
        }
    }

    fn actor(&self) -> String {
        format!("dashboard:{}", self.signed.session.user)
    }

    async fn get<R: DeserializeOwned>(
        &self,
        binding: &'static str,
        path: &str,
    ) -> std::result::Result<R, ServiceError> {
        runtime::service::call::<(), R>(
            self.env,
            binding,
            Method::Get,
            path,
            None,
            self.request_id,
            Some(&self.actor()),
        )
        .await
    }

    async fn post<R: DeserializeOwned>(
        &self,
        binding: &'static str,
        path: &str,
        body: &serde_json::Value,
    ) -> std::result::Result<R, ServiceError> {
        runtime::service::call(
            self.env,
            binding,
            Method::Post,
            path,
            Some(body),
            self.request_id,
            Some(&self.actor()),
        )
        .await
    }

    /// A page read from another worker: `render` on its answer, else the failure in the
    /// service's words with a link back.
    async fn view<R: DeserializeOwned>(
        &self,
        (binding, path): (&'static str, &str),
        current: &'static str,
        (what, back): (&str, &str),
        render: impl FnOnce(&Chrome<'_>, &R) -> Markup,
    ) -> Answer {
        match self.get::<R>(binding, path).await {
            Ok(r) => Answer::Html(200, render(&self.chrome(current), &r)),
            Err(e) => self.failed(current, what, &e, back),
        }
    }

    /// Appends an audit entry for an action that stands either way (the log says when the
    /// entry is missing).
    async fn audit(&self, action: ops::audit::Action, target: String, detail: &serde_json::Value) {
        let entry =
            ops::audit::NewAudit::new(&self.actor(), action, target, detail, self.request_id);
        if let Err(e) = runtime::audit::append(self.env, &entry, self.request_id).await {
            tracing::error!(request_id = %self.request_id, error = %e, action = action.as_str(), "action not audit-logged");
        }
    }

    fn notice(
        &self,
        current: &'static str,
        title: &str,
        ok: bool,
        message: &str,
        back: &str,
    ) -> Answer {
        Answer::Html(
            if ok { 200 } else { 400 },
            views::notice(&self.chrome(current), title, ok, message, back),
        )
    }

    /// A service's refusal in its own words (the README's error shape), else the failure.
    fn failed(&self, current: &'static str, what: &str, e: &ServiceError, back: &str) -> Answer {
        let message = match e {
            ServiceError::Status { body, .. } => serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| body.clone()),
            ServiceError::Unreachable { .. } => e.to_string(),
        };
        tracing::warn!(request_id = %self.request_id, error = %e, what, "operator action failed");
        self.notice(
            current,
            what,
            false,
            &format!("{what} failed: {message}"),
            back,
        )
    }
}

fn qs(query: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        s.append_pair(k, v);
    }
    let s = s.finish();
    if s.is_empty() {
        s
    } else {
        format!("?{s}")
    }
}

fn pairs(query: &[(String, String)]) -> Vec<(&str, &str)> {
    query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

async fn signed_route(
    ctx: &Ctx<'_>,
    method: Method,
    path: &str,
    query: &[(String, String)],
    form: &[(String, String)],
) -> std::result::Result<Answer, RouteError> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    Ok(match (method, segments.as_slice()) {
        (Method::Get, []) => overview(ctx).await,
        (Method::Get, ["feed.json"]) => {
            let q = qs(query);
            match ctx.get::<Feed>("D1_SERVICE", &format!("/feed{q}")).await {
                Ok(f) => Answer::Json(200, serde_json::to_value(f).unwrap_or_default()),
                Err(e) => Answer::Json(
                    503,
                    json!({"error": {"code": "unavailable", "message": e.to_string()}}),
                ),
            }
        }
        (Method::Post, ["logout"]) => {
            auth::logout(ctx.env, ctx.signed).await?;
            Answer::Redirect(
                format!("{}/login", base()),
                Some(console::session::clear_cookie()),
            )
        }
        (Method::Get, ["positions"]) => {
            ctx.view::<PositionsView>(
                ("D1_SERVICE", "/positions"),
                "/positions",
                ("Reading positions", "/"),
                views::positions::page,
            )
            .await
        }
        (Method::Post, ["positions", "close"]) => close(ctx, form).await?,
        (Method::Get, ["signals"]) => {
            ctx.view::<Page<SignalRow>>(
                ("D1_SERVICE", &format!("/signals{}", qs(query))),
                "/signals",
                ("Reading signals", "/signals"),
                |c, p| views::signals::list(c, &pairs(query), p),
            )
            .await
        }
        (Method::Get, ["signals", key]) => {
            ctx.view::<SignalTrail>(
                ("D1_SERVICE", &format!("/signals/{key}")),
                "/signals",
                ("Reading the signal", "/signals"),
                views::signals::trail,
            )
            .await
        }
        (Method::Get, ["orders", "new"]) => Answer::Html(
            200,
            views::order::page(
                &ctx.chrome("/orders"),
                &views::order::OrderForm {
                    exchange: "paper".into(),
                    network: "mainnet".into(),
                    action: "LONG".into(),
                    order_type: "market".into(),
                    ..Default::default()
                },
                None,
            ),
        ),
        (Method::Post, ["orders", "new"]) => manual_order(ctx, form).await?,
        (Method::Get, ["orders"]) => {
            ctx.view::<Page<TradeRow>>(
                ("D1_SERVICE", &format!("/trades{}", qs(query))),
                "/orders",
                ("Reading orders", "/orders"),
                |c, p| views::signals::orders(c, &pairs(query), p),
            )
            .await
        }
        (Method::Get, ["dead-letters"]) => {
            ctx.view::<DeadLetterList>(
                ("DLQ_SERVICE", &format!("/{}", qs(query))),
                "/dead-letters",
                ("Reading dead letters", "/dead-letters"),
                |c, l| views::dead_letters::list(c, &pairs(query), l),
            )
            .await
        }
        (Method::Get, ["dead-letters", id]) => {
            ctx.view::<DeadLetterDetail>(
                ("DLQ_SERVICE", &format!("/{}", id_of(id))),
                "/dead-letters",
                ("Reading the dead letter", "/dead-letters"),
                views::dead_letters::detail,
            )
            .await
        }
        (Method::Post, ["dead-letters", id, "replay"]) => {
            let id = id_of(id);
            let dry_run = field(form, "dry_run") != "false";
            match ctx
                .post::<ReplayResponse>(
                    "DLQ_SERVICE",
                    &format!("/{id}/replay"),
                    &json!({"dry_run": dry_run}),
                )
                .await
            {
                Ok(r) => Answer::Html(
                    200,
                    views::dead_letters::replayed(
                        &ctx.chrome("/dead-letters"),
                        (&format!("/dead-letters/{id}"), "Back to the dead letter"),
                        &r,
                    ),
                ),
                Err(e) => ctx.failed(
                    "/dead-letters",
                    "Replay",
                    &e,
                    &format!("/dead-letters/{id}"),
                ),
            }
        }
        (Method::Post, ["dead-letters", "replay"]) => {
            let dry_run = field(form, "dry_run") != "false";
            let given = |k: &str| Some(field(form, k).trim().to_owned()).filter(|v| !v.is_empty());
            let filter = ops::dead_letters::DeadLetterFilter {
                reason: given("reason"),
                exchange: given("exchange"),
                symbol: given("symbol"),
                status: Some(ops::dead_letters::Status::Pending),
                ..Default::default()
            };
            let back: Vec<(String, String)> = ["reason", "exchange", "symbol"]
                .into_iter()
                .filter_map(|k| given(k).map(|v| (k.to_owned(), v)))
                .collect();
            let back = format!("/dead-letters{}", qs(&back));
            let body = json!({"filter": filter, "limit": ops::dead_letters::MAX_REPLAY_BATCH, "dry_run": dry_run});
            match ctx
                .post::<ReplayResponse>("DLQ_SERVICE", "/replay", &body)
                .await
            {
                Ok(r) => Answer::Html(
                    200,
                    views::dead_letters::replayed(
                        &ctx.chrome("/dead-letters"),
                        (&back, "Back to the dead letters"),
                        &r,
                    ),
                ),
                Err(e) => ctx.failed("/dead-letters", "Replay", &e, &back),
            }
        }
        (Method::Post, ["dead-letters", id, "discard"]) => {
            let id = id_of(id);
            let reason = field(form, "reason").trim();
            match ctx
                .post::<serde_json::Value>(
                    "DLQ_SERVICE",
                    &format!("/{id}/discard"),
                    &json!({"reason": reason}),
                )
                .await
            {
                Ok(_) => ctx.notice(
                    "/dead-letters",
                    "Discarded",
                    true,
                    &format!("Dead letter #{id} discarded: {reason}"),
                    &format!("/dead-letters/{id}"),
                ),
                Err(e) => ctx.failed(
                    "/dead-letters",
                    "Discard",
                    &e,
                    &format!("/dead-letters/{id}"),
                ),
            }
        }
        (Method::Get, ["config"]) => config_page(ctx).await,
        (Method::Post, ["config"]) => {
            let (key, value) = (field(form, "key").trim(), field(form, "value"));
            set(ctx, key, value, None, "/config").await?
        }
        (Method::Post, ["config", "apply-manifest"]) => apply_manifest(ctx).await,
        (Method::Post, ["kill"]) => {
            let reason = field(form, "reason").trim();
            if !(3..=200).contains(&reason.chars().count()) {
                return Ok(ctx.notice(
                    "/",
                    "Kill switch",
                    false,
                    "A reason of 3 to 200 characters is needed.",
                    "/",
                ));
            }
            let on = field(form, "on") == "true";
            set(
                ctx,
                contracts::config::KILL_SWITCH,
                if on { "true" } else { "false" },
                Some(reason),
                "/",
            )
            .await?
        }
        (Method::Get, ["audit"]) => {
            ctx.view::<Page<ops::audit::AuditEntry>>(
                ("D1_SERVICE", &format!("/audit{}", qs(query))),
                "/audit",
                ("Reading the audit log", "/audit"),
                |c, p| views::audit::page(c, &pairs(query), p),
            )
            .await
        }
        (Method::Get, ["workers"]) => workers(ctx).await,
        (Method::Get, ["agent"]) => match ctx
            .get::<serde_json::Value>("AGENT_SERVICE", "/agent/status")
            .await
        {
            Ok(s) => Answer::Html(
                200,
                views::agent::page(&ctx.chrome("/agent"), Some(&s), None),
            ),
            Err(e) => Answer::Html(
                200,
                views::agent::page(
                    &ctx.chrome("/agent"),
                    None,
                    Some(&format!("The agent-worker did not answer: {e}")),
                ),
            ),
        },
        (Method::Post, ["agent", "run"]) => match ctx
            .post::<serde_json::Value>("AGENT_SERVICE", "/agent/run", &json!({}))
            .await
        {
            Ok(r) => ctx.notice("/agent", "Evaluation", true, &summary(&r), "/agent"),
            Err(e) => ctx.failed("/agent", "The evaluation", &e, "/agent"),
        },
        (Method::Post, ["agent", "override"]) => {
            let mut body = json!({"action": field(form, "action"), "network": field(form, "network"), "reason": field(form, "reason").trim()});
            for k in ["exchange", "symbol"] {
                let v = field(form, k).trim();
                if !v.is_empty() {
                    body[k] = v.into();
                }
            }
            if let Ok(m) = field(form, "minutes").trim().parse::<u32>() {
                body["minutes"] = m.into();
            }
            if body["action"] == "flatten" {
                body["confirm"] = true.into();
            }
            match ctx
                .post::<serde_json::Value>("AGENT_SERVICE", "/agent/risk-override", &body)
                .await
            {
                Ok(r) => ctx.notice("/agent", "Override", true, &summary(&r), "/agent"),
                Err(e) => ctx.failed("/agent", "The override", &e, "/agent"),
            }
        }
        (Method::Get, ["reports"]) => match ctx
            .get::<serde_json::Value>("REPORT_SERVICE", "/reports")
            .await
        {
            Ok(v) => {
                let list = v["reports"].as_array().cloned().unwrap_or_default();
                Answer::Html(
                    200,
                    views::reports::page(&ctx.chrome("/reports"), &list, None),
                )
            }
            Err(e) => Answer::Html(
                200,
                views::reports::page(
                    &ctx.chrome("/reports"),
                    &[],
                    Some(&format!("The report-worker did not answer: {e}")),
                ),
            ),
        },
        (Method::Post, ["reports", "generate"]) => {
            let mut body = json!({"period": field(form, "period")});
            let date = field(form, "date").trim();
            if !date.is_empty() {
                body["date"] = date.into();
            }
            match ctx
                .post::<serde_json::Value>("REPORT_SERVICE", "/reports", &body)
                .await
            {
                Ok(r) => ctx.notice("/reports", "Report", true, &summary(&r), "/reports"),
                Err(e) => ctx.failed("/reports", "The report", &e, "/reports"),
            }
        }
        (Method::Get, ["reports", "file", key]) => report_file(ctx, key).await?,
        _ => Answer::Html(
            404,
            views::notice(&ctx.chrome(""), "Not found", false, "No such page.", "/"),
        ),
    })
}

/// A path id as a number (anything else becomes 0, which no dead letter has).
fn id_of(raw: &str) -> i64 {
    raw.parse().unwrap_or(0)
}

/// A worker's JSON answer in one line for a notice.
fn summary(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 600 {
        format!("{}…", s.chars().take(600).collect::<String>())
    } else {
        s
    }
}

async fn overview(ctx: &Ctx<'_>) -> Answer {
    let now = runtime::now_ms();
    let day_start = now - now.rem_euclid(86_400_000);
    let stats_path = format!("/stats?since={day_start}");
    let (positions, stats, equity) = futures::join!(
        ctx.get::<PositionsView>("D1_SERVICE", "/positions"),
        ctx.get::<Stats>("D1_SERVICE", &stats_path),
        ctx.get::<Vec<EquityRow>>("D1_SERVICE", "/equity?days=90"),
    );
    let mut problems = Vec::new();
    for (what, e) in [
        ("positions", positions.as_ref().err()),
        ("signal counts", stats.as_ref().err()),
        ("equity history", equity.as_ref().err()),
    ] {
        if let Some(e) = e {
            problems.push(format!("The {what} could not be read: {e}"));
        }
    }
    let equity = equity.unwrap_or_default();
    let paused: Vec<_> = ctx
        .config
        .paused
        .iter()
        .filter(|p| p.until_ms.is_none_or(|u| u > now))
        .cloned()
        .collect();
    let o = views::overview::Overview {
        positions: positions.as_ref().ok(),
        stats: stats.as_ref().ok(),
        equity: &equity,
        entries_paused: &paused,
        day_start_ms: day_start,
        problems: &problems,
    };
    Answer::Html(200, views::overview::page(&ctx.chrome("/"), &o))
}

async fn close(
    ctx: &Ctx<'_>,
    form: &[(String, String)],
) -> std::result::Result<Answer, RouteError> {
    let c = views::positions::CloseRequest {
        exchange: field(form, "exchange").into(),
        network: field(form, "network").into(),
        symbol: field(form, "symbol").into(),
        side: field(form, "side").into(),
        size: field(form, "size").into(),
        price: Some(field(form, "price").trim())
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
    };
    if field(form, "confirm") != "yes" {
        return Ok(Answer::Html(
            200,
            views::positions::confirm(&ctx.chrome("/positions"), &c, &one_time_key()?),
        ));
    }
    let signal = match views::positions::close_signal(&c, field(form, "once")) {
        Ok(s) => s,
        Err(why) => return Ok(ctx.notice("/positions", "Close", false, &why, "/positions")),
    };
    Ok(
        match ctx
            .post::<serde_json::Value>("TRADE_SERVICE", "/signals", &signal)
            .await
        {
            Ok(r) => {
                tracing::info!(request_id = %ctx.request_id, actor = %ctx.actor(), key = %signal["idempotencyKey"], "position close sent");
                let target = ops::audit::position_target(&format!(
                    "{}:{}:{}:{}",
                    c.exchange, c.network, c.symbol, c.side
                ));
                ctx.audit(ops::audit::Action::PositionClose, target, &signal)
                    .await;
                ctx.notice(
                    "/positions",
                    "Close sent",
                    true,
                    &format!(
                        "The close was accepted ({}); it executes like every signal.",
                        summary(&r)
                    ),
                    "/positions",
                )
            }
            Err(e) => ctx.failed("/positions", "The close", &e, "/positions"),
        },
    )
}

/// A confirmation's one-time key: the idempotency key's tail, so a form sent twice is one order.
fn one_time_key() -> std::result::Result<String, RouteError> {
    let mut once = [0u8; 16];
    getrandom::getrandom(&mut once).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(once.iter().map(|b| format!("{b:02x}")).collect())
}

/// `POST /orders/new`: the form checked and confirmed, then the confirmed order sent.
async fn manual_order(
    ctx: &Ctx<'_>,
    form: &[(String, String)],
) -> std::result::Result<Answer, RouteError> {
    let f = views::order::OrderForm::from_fields(|k| field(form, k));
    let refused = |why: &str| {
        Answer::Html(
            400,
            views::order::page(&ctx.chrome("/orders"), &f, Some(why)),
        )
    };
    if field(form, "confirm") != "yes" {
        let once = one_time_key()?;
        return Ok(match f.signal(&once) {
            Ok(_) => Answer::Html(
                200,
                views::order::confirm(&ctx.chrome("/orders"), &f, &once),
            ),
            Err(why) => refused(&why),
        });
    }
    let signal = match f.signal(field(form, "once")) {
        Ok(s) => s,
        Err(why) => return Ok(refused(&why)),
    };
    let key = signal["idempotencyKey"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(
        match ctx
            .post::<serde_json::Value>("TRADE_SERVICE", "/signals", &signal)
            .await
        {
            Ok(r) => {
                tracing::info!(request_id = %ctx.request_id, actor = %ctx.actor(), key = %key, "manual order sent");
                ctx.audit(
                    ops::audit::Action::ManualOrder,
                    ops::audit::signal_target(&key),
                    &signal,
                )
                .await;
                ctx.notice(
                    "/orders",
                    "Order sent",
                    true,
                    &format!(
                        "{} was accepted ({}); it executes like every signal. Its path follows.",
                        f.summary(),
                        summary(&r)
                    ),
                    &format!("/signals/{}", views::encode(&key)),
                )
            }
            Err(e) => ctx.failed("/orders", "The order", &e, "/orders/new"),
        },
    )
}

async fn set(
    ctx: &Ctx<'_>,
    key: &str,
    value: &str,
    reason: Option<&str>,
    back: &'static str,
) -> std::result::Result<Answer, RouteError> {
    if !runtime::config::is_writable(key) {
        return Ok(ctx.notice(
            "/config",
            "Config",
            false,
            &format!("{key:?} is not a config key"),
            back,
        ));
    }
    Ok(
        match runtime::config::set_because(
            ctx.env,
            key,
            value,
            &ctx.actor(),
            "dashboard",
            reason,
            ctx.request_id,
        )
        .await
        {
            Ok(s) => ctx.notice(
                if back == "/" { "/" } else { "/config" },
                "Saved",
                true,
                &format!(
                    "{} = {}{}",
                    s.key,
                    value.trim(),
                    if s.audited {
                        ""
                    } else {
                        " (the audit log did not take the entry; the change stands)"
                    }
                ),
                back,
            ),
            Err(e) => {
                let h = runtime::http::HttpError::from(&e);
                ctx.notice(
                    "/config",
                    "Config",
                    false,
                    &format!("Refused: {}", h.message),
                    back,
                )
            }
        },
    )
}

/// The manifest's missing keys written with their defaults (`hoox config apply-manifest`),
/// each through the validated, audited writer; keys already stored are never touched.
async fn apply_manifest(ctx: &Ctx<'_>) -> Answer {
    let stored = async {
        let kv = ctx
            .env
            .kv(runtime::config::CONFIG_KV)
            .map_err(|e| e.to_string())?;
        runtime::config::read_all(&kv).await
    };
    let values = match stored.await {
        Ok(v) => v,
        Err(e) => {
            return ctx.notice(
                "/config",
                "Config",
                false,
                &format!("CONFIG_KV: {e}"),
                "/config",
            )
        }
    };
    let present = |k: &str| values.iter().any(|(key, v)| *key == k && v.is_some());
    let mut written = Vec::new();
    for (key, default) in contracts::config::missing_keys(present) {
        if let Err(e) = runtime::config::set_because(
            ctx.env,
            key,
            default,
            &ctx.actor(),
            "dashboard",
            Some("the manifest's default"),
            ctx.request_id,
        )
        .await
        {
            let h = runtime::http::HttpError::from(&e);
            let done = if written.is_empty() {
                "none".to_owned()
            } else {
                written.join(", ")
            };
            return ctx.notice(
                "/config",
                "Config",
                false,
                &format!("{key} refused: {} (written before it: {done})", h.message),
                "/config",
            );
        }
        written.push(key);
    }
    ctx.notice(
        "/config",
        "Defaults written",
        true,
        &if written.is_empty() {
            "Every manifest key was already stored; nothing written.".to_owned()
        } else {
            format!("Written with their defaults: {}", written.join(", "))
        },
        "/config",
    )
}

async fn config_page(ctx: &Ctx<'_>) -> Answer {
    let kv = match ctx.env.kv(runtime::config::CONFIG_KV) {
        Ok(kv) => kv,
        Err(e) => return ctx.notice("/config", "Config", false, &format!("CONFIG_KV: {e}"), "/"),
    };
    let known = match runtime::config::read_all(&kv).await {
        Ok(v) => v,
        Err(e) => return ctx.notice("/config", "Config", false, &format!("CONFIG_KV: {e}"), "/"),
    };
    // The risk rules and their per-symbol overrides are listed, not enumerated.
    let mut risk: Vec<(String, Option<String>)> = Vec::new();
    if let Ok(list) = kv.list().prefix("risk:".into()).execute().await {
        let reads = list.keys.iter().map(|k| {
            let kv = &kv;
            async move { (k.name.clone(), kv.get(&k.name).text().await.ok().flatten()) }
        });
        risk = futures::future::join_all(reads).await;
    }
    let mut values: Vec<views::config::Value<'_>> = known
        .iter()
        .map(|(k, v)| views::config::Value {
            key: k,
            value: v.as_deref(),
            default: contracts::config::default_of(k),
        })
        .collect();
    let mut overrides = Vec::new();
    for (k, v) in &risk {
        let v = views::config::Value {
            key: k,
            value: v.as_deref(),
            default: None,
        };
        if console::keys::KEYS.iter().any(|d| d.key == k) {
            values.push(v);
        } else {
            overrides.push(v);
        }
    }
    Answer::Html(
        200,
        views::config::page(&ctx.chrome("/config"), &values, &overrides),
    )
}

async fn workers(ctx: &Ctx<'_>) -> Answer {
    const BOUND: [(&str, &str); 6] = [
        ("D1_SERVICE", "d1-worker"),
        ("DLQ_SERVICE", "dlq"),
        ("AGENT_SERVICE", "agent-worker"),
        ("REPORT_SERVICE", "report-worker"),
        ("TRADE_SERVICE", "trade-worker"),
        ("TELEGRAM_SERVICE", "telegram-worker"),
    ];
    let checks = BOUND.iter().map(|(binding, worker)| async move {
        let t0 = runtime::now_ms();
        let r = ctx.get::<serde_json::Value>(binding, "/health").await;
        let ms = runtime::now_ms() - t0;
        views::workers::Health {
            binding,
            worker,
            ok: r.as_ref().is_ok_and(|v| v["status"] == "ok"),
            detail: match r {
                Ok(v) => v.to_string(),
                Err(e) => e.to_string(),
            },
            ms,
        }
    });
    let mut rows = futures::future::join_all(checks).await;
    rows.insert(
        0,
        views::workers::Health {
            binding: "(self)",
            worker: "dashboard",
            ok: true,
            detail: "serving this page".into(),
            ms: 0,
        },
    );
    Answer::Html(200, views::workers::page(&ctx.chrome("/workers"), &rows))
}

async fn report_file(ctx: &Ctx<'_>, key: &str) -> std::result::Result<Answer, RouteError> {
    let env = ctx.env;
    let headers = Headers::new();
    headers.set(
        runtime::http::INTERNAL_AUTH_HEADER,
        &runtime::http::secret(env, runtime::http::INTERNAL_KEY_SECRET).unwrap_or_default(),
    )?;
    headers.set(runtime::service::REQUEST_ID_HEADER, ctx.request_id)?;
    let mut init = worker::RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let req = Request::new_with_init(
        &format!("https://REPORT_SERVICE.internal/reports/{key}"),
        &init,
    )?;
    let resp = env.service("REPORT_SERVICE")?.fetch_request(req).await?;
    if resp.status_code() != 200 {
        return Ok(ctx.notice(
            "/reports",
            "Report",
            false,
            &format!("The report-worker answered {}", resp.status_code()),
            "/reports",
        ));
    }
    Ok(Answer::Raw(resp))
}
