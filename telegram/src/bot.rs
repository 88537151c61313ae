//! The bot webhook: Telegram posts each update here (through the gateway's `/telegram/webhook`).
//!
//! The `X-Telegram-Bot-Api-Secret-Token` header must match `TELEGRAM_SECRET_TOKEN` (constant
//! time; no secret configured = every update refused). Only chats in `telegram:allowed_chat_ids`
//! may command; anything else is acknowledged and has no effect, so Telegram does not retry it
//! and a stranger learns nothing. Commands read the ledger through `D1_SERVICE`, and `/daily` `/weekly` `/monthly` `/profit` the
//! report-worker's figures through `REPORT_SERVICE`; `/kill_on` and
//! `/kill_off` also need the sender's user id in `telegram:allowed_user_ids`, and go through
//! `runtime::config::set` (every store shard, CONFIG_KV, the audit entry under the verified
//! sender).

use crate::sender::{allowed_chats, Sender};
use alerts::api::{Message, Update, SECRET_TOKEN_HEADER};
use alerts::command::{self, Command};
use alerts::format::{self, StatusView};
use contracts::config::{RuntimeConfig, KILL_SWITCH};
use ops::dead_letters::DeadLetterList;
use ops::ledger::{Stats, TradeRow};
use ops::query::Page;
use ops::reconcile::PositionsView;
use runtime::http::{header_holds_secret, json, HttpError};
use runtime::service::{call, ServiceError};
use serde::Deserialize;
use worker::{Env, Method, Request, Response, Result};

pub const SECRET_TOKEN_SECRET: &str = "TELEGRAM_SECRET_TOKEN";
pub const BOT_USERNAME_VAR: &str = "TELEGRAM_BOT_USERNAME";
use runtime::audit::D1_SERVICE;

fn ack(note: &str) -> Result<Response> {
    json(200, &serde_json::json!({"ok": true, "note": note}))
}

pub async fn webhook(mut req: Request, env: &Env, request_id: &str) -> Result<Response> {
    if !header_holds_secret(&req, env, SECRET_TOKEN_HEADER, SECRET_TOKEN_SECRET) {
        tracing::warn!("bot webhook: bad or missing secret token");
        return HttpError::unauthorized("bad secret token").respond(request_id);
    }
    let update: Update = match req.json().await {
        Ok(u) => u,
        Err(_) => return ack("not an update"),
    };
    let Some(message) = update.message else {
        return ack("ignored: not a message");
    };
    let bot = env
        .var(BOT_USERNAME_VAR)
        .map(|v| v.to_string())
        .ok()
        .filter(|v| !v.is_empty());
    let Some(cmd) = message
        .text
        .as_deref()
        .and_then(|t| command::parse(t, bot.as_deref()))
    else {
        return ack("ignored: not a command");
    };
    let chat = message.chat.id;
    if !allowed_chats(env).await.contains(&chat) {
        tracing::warn!(
            chat_id = chat,
            "command from a chat that is not allow-listed; ignored"
        );
        return ack("ignored");
    }
    let user = message.from.as_ref().map(|u| u.id);
    let allowed_users = match runtime::config::load(env).await {
        Ok(cfg) => cfg.telegram_allowed_user_ids.clone(),
        Err(_) => Vec::new(),
    };
    tracing::info!(chat_id = chat, user_id = ?user, command = ?cmd, update_id = update.update_id, "bot command");
    let reply = if cmd.permitted(user, &allowed_users) {
        run(&cmd, &message, env, request_id).await
    } else {
        tracing::warn!(chat_id = chat, user_id = ?user, command = ?cmd, "state change by a user not in telegram:allowed_user_ids; refused");
        format::failure("only users in telegram:allowed_user_ids may change the kill switch")
    };
    match Sender::from_env(env) {
        Ok(sender) => {
            if let Err(e) = sender.deliver(&[chat], &reply).await {
                tracing::error!(error = %e, chat_id = chat, "reply not delivered");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot reply"),
    }
    ack("handled")
}

/// The agent-worker (`/risk`).
const AGENT_SERVICE: &str = "AGENT_SERVICE";

async fn ledger<R: for<'de> Deserialize<'de>>(
    env: &Env,
    path: &str,
    request_id: &str,
) -> std::result::Result<R, ServiceError> {
    call::<(), R>(env, D1_SERVICE, Method::Get, path, None, request_id, None).await
}

/// The report-worker's bound name.
pub const REPORT_SERVICE: &str = "REPORT_SERVICE";

#[derive(Deserialize)]
struct Summaries {
    periods: Vec<report::metrics::PeriodSummary>,
}

/// The headline figures of `/summary` (`report::metrics`, computed by the report-worker).
async fn reports(
    env: &Env,
    path: &str,
    request_id: &str,
) -> std::result::Result<Summaries, ServiceError> {
    call::<(), Summaries>(
        env,
        REPORT_SERVICE,
        Method::Get,
        path,
        None,
        request_id,
        None,
    )
    .await
}

async fn run(cmd: &Command, message: &Message, env: &Env, request_id: &str) -> String {
    let unavailable = |what: &str, e: ServiceError| {
        tracing::error!(error = %e, what, "ledger read failed");
        format::failure(&format!("{what} unavailable right now; try again shortly"))
    };
    match cmd {
        Command::Help => format::help(),
        Command::Unknown(name) => format::unknown(name),
        Command::Status => {
            let (kill_switch, mode) = match env.kv(runtime::config::CONFIG_KV) {
                Ok(kv) => match runtime::config::read_all(&kv).await {
                    Ok(values) => {
                        let (cfg, _) = RuntimeConfig::read(|k| {
                            values
                                .iter()
                                .find(|(key, _)| *key == k)
                                .and_then(|(_, v)| v.clone())
                        });
                        let mode = serde_json::to_value(cfg.mode)
                            .ok()
                            .and_then(|m| m.as_str().map(str::to_owned));
                        (Some(cfg.kill_switch), mode)
                    }
                    Err(_) => (None, None),
                },
                Err(_) => (None, None),
            };
            let stats = ledger::<Stats>(env, "/stats", request_id)
                .await
                .map_err(|e| tracing::error!(error = %e, "stats unavailable"))
                .ok();
            format::status(&StatusView {
                kill_switch,
                mode,
                stats,
            })
        }
        Command::Trades { limit } => {
            match ledger::<Page<TradeRow>>(env, &format!("/trades?limit={limit}"), request_id).await
            {
                Ok(page) => format::trades(&page.items),
                Err(e) => unavailable("trades", e),
            }
        }
        Command::Positions => match ledger::<PositionsView>(env, "/positions", request_id).await {
            Ok(v) => format::exchange_positions(&v),
            Err(e) => unavailable("positions", e),
        },
        Command::Risk => match call::<(), serde_json::Value>(
            env,
            AGENT_SERVICE,
            Method::Get,
            "/agent/status",
            None,
            request_id,
            None,
        )
        .await
        {
            Ok(v) => format::risk_status(&v),
            Err(e) => unavailable("the risk manager", e),
        },
        Command::Dlq => {
            match ledger::<DeadLetterList>(env, "/dead-letters?status=pending&limit=10", request_id)
                .await
            {
                Ok(list) => format::dlq(list.total, &list.page.items),
                Err(e) => unavailable("dead letters", e),
            }
        }
        Command::Report { kind, periods } => {
            let path = format!("/summary?period={}&n={periods}", kind.as_str());
            match reports(env, &path, request_id).await {
                Ok(s) => format::period_summaries(kind.title(), &s.periods),
                Err(e) => unavailable("reports", e),
            }
        }
        Command::Profit => match reports(env, "/summary?period=all", request_id).await {
            Ok(s) => format::period_summaries("Profit, all time", &s.periods),
            Err(e) => unavailable("reports", e),
        },
        Command::KillOn | Command::KillOff => {
            let on = *cmd == Command::KillOn;
            kill_switch(env, on, &message.actor(), request_id).await
        }
    }
}

/// Sets the kill switch, then records who did it. The switch is a safety control: it is set even
/// when the audit log cannot be written, and the reply says so.
async fn kill_switch(env: &Env, on: bool, actor: &str, request_id: &str) -> String {
    let value = if on { "true" } else { "false" };
    match runtime::config::set(env, KILL_SWITCH, value, actor, "telegram", request_id).await {
        Ok(set) => {
            tracing::warn!(actor, value, "kill switch set from Telegram");
            let mut reply = format::kill_switch_set(on);
            if !set.audited {
                reply.push_str("\n⚠️ The audit log could not be written.");
            }
            reply
        }
        Err(e @ runtime::config::SetError::Store(_)) => {
            tracing::error!(error = %e, "kill switch not set in the store");
            format::failure(
                "could not change the kill switch everywhere (idempotency store unavailable); use `hoox kill` instead",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "kill switch not written");
            format::failure(
                "could not change the kill switch (CONFIG_KV unavailable); use `hoox kill` instead",
            )
        }
    }
}
