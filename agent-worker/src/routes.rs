//! The agent's routes, each behind the internal key: what the rules are and what they hold
//! (`GET /agent/status`), one evaluation now (`POST /agent/run`), and an operator's override
//! (`POST /agent/risk-override`: pause or resume entries, flatten positions). Reached by
//! operators through the gateway's `/admin/agent/*` and `hoox risk`.

use crate::records::{self, ReadError};
use crate::run::{self, Trigger};
use crate::trade;
use ops::audit::{Action as AuditAction, NewAudit};
use ops::reconcile::day_of;
use risk::evaluate::{close_all, CloseReason, Network};
use risk::pauses::{self, PauseRecord};
use risk::plan;
use runtime::d1;
use runtime::http::{json, require_internal, HttpError};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use worker::{Env, Method, Request, Response, Result};

/// Longest operator pause with an end (a week); without `minutes` it lasts until resumed.
const MAX_PAUSE_MINUTES: i64 = 10_080;
const RUNS_SHOWN: i64 = 5;

pub async fn handle(mut req: Request, env: Env, request_id: String) -> Result<Response> {
    let operator = match require_internal(&req, &env) {
        Ok(o) => o,
        Err(e) => return e.respond(&request_id),
    };
    let answer = match (req.method(), req.path().as_str()) {
        (Method::Get, "/agent/status") => status(&env).await,
        (Method::Post, "/agent/run") => {
            run::run(&env, Trigger::Operator(operator.actor.clone()), &request_id)
                .await
                .map_err(|e| HttpError::unavailable(e.to_string()))
                .and_then(|s| to_json(&s))
        }
        (Method::Post, "/agent/risk-override") => {
            let body = req.text().await.unwrap_or_default();
            match serde_json::from_str::<Override>(&body) {
                Ok(o) => risk_override(&env, o, &operator.actor, &request_id).await,
                Err(e) => Err(HttpError::new(
                    400,
                    "invalid_body",
                    format!("expected {{\"action\": \"pause\"|\"resume\"|\"flatten\", \"network\": \"mainnet\"|\"testnet\", \"exchange\"?, \"symbol\"?, \"minutes\"?, \"reason\"}}: {e}"),
                )),
            }
        }
        (_, "/agent/status" | "/agent/run" | "/agent/risk-override") => Err(HttpError::new(
            405,
            "method_not_allowed",
            "see the README for each route's method",
        )),
        _ => Err(HttpError::not_found("no such route")),
    };
    match answer {
        Ok(v) => json(200, &v),
        Err(e) => e.respond(&request_id),
    }
}

fn to_json<T: Serialize>(v: &T) -> std::result::Result<serde_json::Value, HttpError> {
    serde_json::to_value(v).map_err(|e| HttpError::new(500, "internal", e.to_string()))
}

fn unavailable(e: ReadError) -> HttpError {
    HttpError::unavailable(e.to_string())
}

/// `GET /agent/status`.
async fn status(env: &Env) -> std::result::Result<serde_json::Value, HttpError> {
    let now = runtime::now_ms();
    let db = records::db(env).map_err(unavailable)?;
    let (rules, rule_errors) = records::rules(env).await.map_err(unavailable)?;
    let paused = records::pauses(env).await.map_err(unavailable)?;
    let stored = records::stored(&db, &day_of(now), now)
        .await
        .map_err(unavailable)?;
    let runs = records::runs(&db, RUNS_SHOWN).await.map_err(unavailable)?;
    let positions: Vec<serde_json::Value> = stored
        .states
        .iter()
        .map(|s| {
            serde_json::json!({
                "position": plan::id_of_row(s).map(|id| id.to_string()),
                "state": serde_json::from_str::<serde_json::Value>(&s.state).unwrap_or_default(),
                "stops": s.stops.as_deref().and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()),
                "updated_at_ms": s.updated_at_ms,
            })
        })
        .collect();
    let last: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| serde_json::from_str(&r.summary).unwrap_or_default())
        .collect();
    Ok(serde_json::json!({
        "now_ms": now,
        "rules": rules,
        "rule_errors": rule_errors,
        "paused": pauses::add(&paused, &[], now),
        "positions": positions,
        "equity": stored.equity,
        "exits": stored.exits,
        "last_run": last.first(),
        "recent_runs": last.iter().skip(1).map(|r| serde_json::json!({
            "run_id": r["run_id"], "at_ms": r["at_ms"], "trigger": r["trigger"],
            "actions": r["actions"].as_array().map_or(0, Vec::len),
            "problems": r["problems"].as_array().map_or(0, Vec::len),
        })).collect::<Vec<_>>(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OverrideAction {
    Pause,
    Resume,
    Flatten,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    action: OverrideAction,
    network: String,
    #[serde(default)]
    exchange: Option<String>,
    #[serde(default)]
    symbol: Option<String>,
    /// A pause's length; none: until resumed.
    #[serde(default)]
    minutes: Option<i64>,
    reason: String,
}

fn bad(field: &str, message: impl Into<String>) -> HttpError {
    HttpError::new(400, "invalid_field", message).field(field)
}

/// `POST /agent/risk-override`.
async fn risk_override(
    env: &Env,
    o: Override,
    actor: &str,
    request_id: &str,
) -> std::result::Result<serde_json::Value, HttpError> {
    let now = runtime::now_ms();
    let network = match o.network.as_str() {
        "mainnet" => Network::Mainnet,
        "testnet" => Network::Testnet,
        _ => return Err(bad("network", "expected mainnet or testnet")),
    };
    let exchange = match o.exchange.as_deref() {
        None => None,
        Some(e) => Some(
            contracts::signal::Exchange::from_str(e)
                .map_err(|_| bad("exchange", "expected bybit, binance or mexc"))?,
        ),
    };
    let symbol = match o.symbol.as_deref() {
        None => None,
        Some(s) => {
            Some(contracts::symbol::Symbol::parse(s).map_err(|e| bad("symbol", e.to_string()))?)
        }
    };
    if symbol.is_some() && exchange.is_none() {
        return Err(bad("exchange", "a symbol needs its exchange"));
    }
    let reason = o.reason.trim();
    if reason.chars().count() < 3 || reason.chars().count() > 200 {
        return Err(bad("reason", "say why, in 3 to 200 characters"));
    }
    let exchange_name = exchange.map(|e| e.as_str().to_owned());
    let symbol_name = symbol.as_ref().map(|s| s.canonical());
    let scope = match (&exchange_name, &symbol_name) {
        (Some(e), Some(s)) => format!("{e} {s} on {}", network.as_str()),
        (Some(e), None) => format!("{e} on {}", network.as_str()),
        _ => format!("every entry on {}", network.as_str()),
    };
    let db = records::db(env).map_err(unavailable)?;
    let mut writes = Vec::new();
    let mut alerts = Vec::new();
    let answer = match o.action {
        OverrideAction::Pause => {
            let until_ms = match o.minutes {
                None => None,
                Some(m) if (1..=MAX_PAUSE_MINUTES).contains(&m) => Some(now + m * 60_000),
                Some(_) => {
                    return Err(bad(
                        "minutes",
                        format!("between 1 and {MAX_PAUSE_MINUTES}, or none for until resumed"),
                    ))
                }
            };
            let record = PauseRecord {
                testnet: network == Network::Testnet,
                exchange,
                symbol: symbol_name.clone(),
                until_ms,
                reason: format!("{actor}: {reason}"),
                since_ms: now,
            };
            let current = records::pauses(env).await.map_err(unavailable)?;
            let list = pauses::add(&current, std::slice::from_ref(&record), now);
            run::write_pauses(env, &list, actor, request_id)
                .await
                .map_err(HttpError::unavailable)?;
            writes.push(
                NewAudit::new(
                    actor,
                    AuditAction::RiskPause,
                    format!("entries:{}", network.as_str()),
                    &serde_json::to_value(&record).unwrap_or_default(),
                    request_id,
                )
                .insert(now),
            );
            alerts.push(run::notice(format!(
                "⏸ Entries paused by {actor}: {scope} — {reason}. Exits keep running."
            )));
            serde_json::json!({"paused": list})
        }
        OverrideAction::Resume => {
            let current = records::pauses(env).await.map_err(unavailable)?;
            let (kept, lifted) =
                pauses::resume(&current, network, exchange, symbol_name.as_deref(), now);
            run::write_pauses(env, &kept, actor, request_id)
                .await
                .map_err(HttpError::unavailable)?;
            // A network-wide resume re-bases the breach protections at the equity of now, so
            // the breach that paused entries does not pause them again the next minute.
            let mut rebased = None;
            if exchange.is_none() {
                match trade::account(env, request_id).await {
                    Ok(snapshot) => {
                        let (accounts, _) = plan::accounts(&snapshot, &[], &[], &day_of(now), now);
                        if let Some(e) = accounts
                            .iter()
                            .find(|a| a.network == network)
                            .and_then(|a| a.equity)
                        {
                            let state = plan::rebase(network, e, &day_of(now), now);
                            writes.push(ops::risk::equity_state_upsert(&state));
                            rebased = Some(e.normalize().to_string());
                        }
                    }
                    Err(e) => {
                        tracing::warn!(request_id, error = %e, "equity unreadable: protections not re-based")
                    }
                }
            }
            writes.push(
                NewAudit::new(
                    actor,
                    AuditAction::RiskResume,
                    format!("entries:{}", network.as_str()),
                    &serde_json::json!({"lifted": lifted, "reason": reason, "rebased_equity": rebased}),
                    request_id,
                )
                .insert(now),
            );
            alerts.push(run::notice(format!(
                "▶ Entries resumed by {actor}: {scope} — {reason} ({} pause(s) lifted{}).",
                lifted.len(),
                rebased.as_deref().map_or(String::new(), |e| format!(
                    "; daily loss and drawdown now measured from {e} USDT"
                ))
            )));
            serde_json::json!({"lifted": lifted, "paused": kept, "rebased_equity": rebased})
        }
        OverrideAction::Flatten => {
            let snapshot = trade::account(env, request_id)
                .await
                .map_err(|e| HttpError::unavailable(e.to_string()))?;
            let stored = records::stored(&db, &day_of(now), now)
                .await
                .map_err(unavailable)?;
            let gathered = plan::positions(&snapshot, &stored.states, now);
            let targets: Vec<_> = gathered
                .positions
                .iter()
                .filter(|p| p.id.network == network)
                .filter(|p| exchange.is_none_or(|e| p.id.exchange == e))
                .filter(|p| symbol.as_ref().is_none_or(|s| p.id.symbol == *s))
                .collect();
            let closes: Vec<_> = targets
                .iter()
                .map(|p| close_all(p, CloseReason::OperatorFlatten))
                .collect();
            let sent = run::send_closes(
                env,
                closes.iter(),
                &gathered.positions,
                &stored.dead,
                request_id,
            )
            .await;
            let already = stored.exits.iter().map(|e| e.key.clone()).collect();
            let failed = run::record_closes(
                &sent,
                &gathered.positions,
                &already,
                &run::Who {
                    actor,
                    request_id,
                    now_ms: now,
                },
                &mut writes,
                &mut alerts,
            );
            writes.push(
                NewAudit::new(
                    actor,
                    AuditAction::RiskFlatten,
                    format!("entries:{}", network.as_str()),
                    &serde_json::json!({"scope": scope, "reason": reason, "positions": closes.len(), "failed": failed.len()}),
                    request_id,
                )
                .insert(now),
            );
            alerts.insert(
                0,
                run::notice(format!(
                    "⚠ Flatten by {actor}: {scope} — {reason} ({} position(s)).",
                    closes.len()
                )),
            );
            serde_json::json!({
                "closes": sent.iter().map(|(c, s)| serde_json::json!({
                    "key": c.key, "position": c.position.to_string(), "sent": s,
                })).collect::<Vec<_>>(),
                "failed": failed.len(),
            })
        }
    };
    let written = d1::batch(&db, &writes).await;
    run::send_alerts(env, alerts, request_id).await;
    if let Err(e) = written {
        tracing::error!(request_id, error = %e, "override done but not recorded in D1");
    }
    Ok(answer)
}
