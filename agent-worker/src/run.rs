//! One evaluation, gathered and carried out: rules, pauses, the exchanges' positions and equity,
//! the agent's own records → `risk::evaluate` → closes through the trade-worker's door, pauses
//! into `trade:entries_paused`, states, exits and equity memory into D1 (one batch, with an
//! audit entry per action), and one Telegram message with every alert of the run.
//!
//! Nothing here decides: every decision is `risk`'s. A close that did not go through keeps its
//! position's previous state, so the next minute decides it again (under the same key, so a
//! close that did go through after all is not placed twice).

use crate::records::{self, ReadError, ENTRIES_PAUSED};
use crate::trade::{self, Sent};
use alerts::format::{Alert, AlertRequest};
use ops::audit::{position_target, Action as AuditAction, NewAudit};
use ops::query::Query;
use ops::reconcile::day_of;
use ops::risk::{DeadClose, RunRow};
use risk::evaluate::{Action, Close, NoteKind, Position, PositionId};
use risk::pauses::{self, PauseRecord};
use risk::plan::{self, Retry};
use risk::Input;
use runtime::d1;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use worker::Env;

/// What started a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Cron,
    /// `POST /agent/run`, by this actor.
    Operator(String),
}

impl Trigger {
    fn name(&self) -> &'static str {
        match self {
            Self::Cron => "cron",
            Self::Operator(_) => "operator",
        }
    }

    fn actor(&self) -> &str {
        match self {
            Self::Cron => crate::WORKER,
            Self::Operator(a) => a,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the exchanges could not be read through the trade-worker: {0}")]
    Trade(runtime::service::ServiceError),
    #[error("the run's records were not written: {0}")]
    Write(String),
}

/// One action and what became of it.
#[derive(Debug, Serialize)]
pub struct Done {
    #[serde(flatten)]
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<Sent>,
}

/// What a run saw and did: the answer of `POST /agent/run`, stored in `risk_runs`.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub run_id: String,
    pub at_ms: i64,
    pub trigger: &'static str,
    pub positions: Vec<Position>,
    pub accounts: Vec<risk::evaluate::Account>,
    pub actions: Vec<Done>,
    pub notes: Vec<risk::evaluate::Note>,
    /// Rules left out, positions not managed, records unreadable.
    pub problems: Vec<String>,
    /// The pauses in force after the run.
    pub paused: Vec<PauseRecord>,
}

/// Sends the closes, each once (a flatten and a stop on one position share nothing but the
/// position: each has its own key, and the trade-worker closes no more than is open).
///
/// A close whose order dead-lettered goes out again under its next key (`plan::retry_key`);
/// one that may have reached the exchange, or has used its retries, is not sent and fails.
pub async fn send_closes<'a>(
    env: &Env,
    closes: impl IntoIterator<Item = &'a Close>,
    positions: &[Position],
    dead: &[DeadClose],
    request_id: &str,
) -> Vec<(Close, Option<Sent>)> {
    let mut seen = BTreeSet::new();
    let sends = closes
        .into_iter()
        .filter(|c| seen.insert(c.key.clone()))
        .map(|c| {
            let position = positions.iter().find(|p| p.id == c.position);
            let retry = plan::retry_key(&c.key, dead);
            async move {
                let mut close = c.clone();
                let sent = match retry {
                    Retry::Blocked(why) => Sent::Failed(why),
                    Retry::Send { key, dead } => {
                        if !dead.is_empty() {
                            tracing::warn!(request_id, key = %key, dead = ?dead, "close sent again after its dead letters");
                        }
                        close.key = key;
                        match position.and_then(|p| plan::close_signal(&close, p)) {
                            Some(signal) => trade::close(env, &signal, request_id).await,
                            None => Sent::Refused("no quantity to close".into()),
                        }
                    }
                };
                (close, Some(sent))
            }
        });
    futures::future::join_all(sends).await
}

/// The alert, audit entry and exit of each sent close; the positions whose close failed.
pub fn record_closes(
    sent: &[(Close, Option<Sent>)],
    positions: &[Position],
    already: &BTreeSet<String>,
    who: &Who<'_>,
    writes: &mut Vec<Query>,
    alerts: &mut Vec<Alert>,
) -> BTreeSet<PositionId> {
    let (actor, request_id, now_ms) = (who.actor, who.request_id, who.now_ms);
    let mut failed = BTreeSet::new();
    for (close, result) in sent {
        let Some(result) = result else { continue };
        let quantity = positions
            .iter()
            .find(|p| p.id == close.position)
            .and_then(|p| plan::close_quantity(close, p));
        let line = plan::describe_close(close, quantity);
        let detail = serde_json::json!({
            "key": close.key,
            "reason": plan::reason_name(&close.reason),
            "quantity": quantity.map(|q| q.to_string()),
            "sent": result,
            "what": line,
        });
        if result.went_through() {
            if already.contains(&close.key) {
                // The same trigger evaluated again (the close is in flight): said once already.
                continue;
            }
            if let Some(exit) = plan::close_exit(close, now_ms) {
                writes.push(ops::risk::exit_insert(&exit));
            }
            writes.push(
                NewAudit::new(
                    actor,
                    AuditAction::RiskClose,
                    position_target(&close.position.to_string()),
                    &detail,
                    request_id,
                )
                .insert(now_ms),
            );
            let again = if close.key.contains('~') {
                " (sent again: the earlier order dead-lettered)"
            } else {
                ""
            };
            alerts.push(notice(format!("🛡 {line}{again}")));
        } else {
            failed.insert(close.position.clone());
            let why = match result {
                Sent::Refused(m) | Sent::Failed(m) => m.as_str(),
                _ => "",
            };
            tracing::error!(request_id, key = %close.key, error = why, "close failed");
            writes.push(
                NewAudit::new(
                    actor,
                    AuditAction::RiskCloseFailed,
                    position_target(&close.position.to_string()),
                    &detail,
                    request_id,
                )
                .insert(now_ms),
            );
            alerts.push(notice(format!(
                "🚨 CLOSE FAILED — {line}. {why}. The agent asks again every minute under the \
                 same key; close it by hand if this repeats."
            )));
        }
    }
    failed
}

pub fn notice(text: String) -> Alert {
    Alert::Notice { text }
}

/// Writes the pause list through the config writer (validated, audited as a config change).
pub async fn write_pauses(
    env: &Env,
    list: &[PauseRecord],
    actor: &str,
    request_id: &str,
) -> Result<(), String> {
    let value = serde_json::to_string(list).map_err(|e| e.to_string())?;
    runtime::config::set(env, ENTRIES_PAUSED, &value, actor, "agent", request_id)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub async fn send_alerts(env: &Env, alerts: Vec<Alert>, request_id: &str) {
    if alerts.is_empty() {
        return;
    }
    if let Err(e) = runtime::alert::send(env, &AlertRequest { alerts }, request_id).await {
        tracing::error!(request_id, error = %e, "risk alerts not sent");
    }
}

/// Who acted and when, for the records of what a run or an override did.
pub struct Who<'a> {
    pub actor: &'a str,
    pub request_id: &'a str,
    pub now_ms: i64,
}

/// Places, moves or cancels each open position's exchange-side stop where the rules' target
/// changed since the last one placed (`plan::stop_target`), through the trade-worker's
/// `POST /stops`; the stored record of each position touched (`{"target", "placed",
/// "supported"}`, or the last target that failed, alerted once). A position closing this run
/// is left alone.
#[allow(clippy::too_many_arguments)]
pub async fn exchange_stops(
    env: &Env,
    rules: &risk::RuleSet,
    gathered: &plan::Gathered,
    states: &BTreeMap<PositionId, risk::evaluate::PositionState>,
    closing: &BTreeSet<PositionId>,
    cx: Who<'_>,
    writes: &mut Vec<Query>,
    alerts: &mut Vec<Alert>,
    problems: &mut Vec<String>,
) -> BTreeMap<PositionId, String> {
    let mut calls = Vec::new();
    for p in &gathered.positions {
        if closing.contains(&p.id) {
            continue;
        }
        let state = states.get(&p.id).cloned().unwrap_or_default();
        let target = plan::stop_target(p, &rules.for_symbol(&p.id.symbol), &state);
        let stored: serde_json::Value = gathered
            .stops
            .get(&p.id)
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        let placed_target = stored.get("target").cloned().filter(|t| !t.is_null());
        if target == placed_target {
            continue;
        }
        let mut body = target
            .clone()
            .unwrap_or_else(|| serde_json::json!({"stop_price": null, "trailing": null}));
        body["exchange"] = p.id.exchange.as_str().into();
        body["test"] = (p.id.network == risk::evaluate::Network::Testnet).into();
        body["symbol"] = p.id.symbol.canonical().into();
        body["side"] = p.id.side.as_str().into();
        let id = p.id.clone();
        calls.push(async move {
            let answer = trade::stops(env, &body, cx.request_id).await;
            (id, target, placed_target, stored, answer)
        });
    }
    let mut out = BTreeMap::new();
    for (id, target, placed_target, stored, answer) in futures::future::join_all(calls).await {
        let what = match &target {
            Some(t) => format!(
                "stop {}{}",
                t["stop_price"].as_str().unwrap_or("none"),
                t["trailing"]["distance_pct"]
                    .as_str()
                    .map_or(String::new(), |d| format!(", trailing {d} %"))
            ),
            None => "none (cancelled)".to_owned(),
        };
        match answer {
            Ok(a) => {
                let record = serde_json::json!({
                    "target": target,
                    "placed": a["placed"],
                    "supported": a["supported"],
                    "at_ms": cx.now_ms,
                });
                out.insert(id.clone(), record.to_string());
                writes.push(
                    NewAudit::new(
                        cx.actor,
                        AuditAction::RiskStopMoved,
                        position_target(&id.to_string()),
                        &serde_json::json!({"exchange_side": record}),
                        cx.request_id,
                    )
                    .insert(cx.now_ms),
                );
                let notes = a["placed"]["notes"]
                    .as_array()
                    .map(|n| {
                        n.iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .filter(|n| !n.is_empty())
                    .map_or(String::new(), |n| format!(" ({n})"));
                alerts.push(notice(format!(
                    "🛡 Exchange-side protection of {id}: {what}{notes}"
                )));
            }
            Err(e) => {
                problems.push(format!("{id}: exchange-side stop not set: {e}"));
                let first_time = stored.get("failed") != target.as_ref();
                let mut record = stored.clone();
                if !record.is_object() {
                    record = serde_json::json!({});
                }
                record["target"] = placed_target.unwrap_or_default();
                record["failed"] = target.clone().unwrap_or_default();
                out.insert(id.clone(), record.to_string());
                if first_time {
                    alerts.push(notice(format!(
                        "⚠ Exchange-side protection of {id} not set ({what}): {e}. The \
                         agent's minute check still protects it."
                    )));
                }
            }
        }
    }
    out
}

/// One evaluation, start to end.
pub async fn run(env: &Env, trigger: Trigger, request_id: &str) -> Result<Summary, RunError> {
    let now = runtime::now_ms();
    let today = day_of(now);
    let actor = trigger.actor().to_owned();
    let db = records::db(env)?;
    let (rules, mut problems) = records::rules(env).await?;
    let pauses_before = records::pauses(env).await?;
    let snapshot = trade::account(env, request_id)
        .await
        .map_err(RunError::Trade)?;
    for r in &snapshot.reads {
        if let Some(e) = &r.positions_error {
            problems.push(format!(
                "{} {}: positions unreadable: {e}",
                r.exchange, r.network
            ));
        }
        if let Some(e) = &r.equity_error {
            problems.push(format!(
                "{} {}: equity unreadable: {e}",
                r.exchange, r.network
            ));
        }
    }
    let stored = records::stored(&db, &today, now).await?;
    let gathered = plan::positions(&snapshot, &stored.states, now);
    problems.extend(gathered.problems.iter().cloned());
    let (accounts, memory) = plan::accounts(&snapshot, &stored.day, &stored.equity, &today, now);
    let exits = plan::exits(&stored.exits);
    let paused = pauses::in_force(&pauses_before, now);
    let eval = risk::evaluate(Input {
        rules: &rules,
        positions: &gathered.positions,
        states: &gathered.states,
        accounts: &accounts,
        exits: &exits,
        paused: &paused,
        now_ms: u64::try_from(now).unwrap_or(0),
    });

    let mut writes: Vec<Query> = Vec::new();
    let mut alerts: Vec<Alert> = Vec::new();
    // Breaches (flatten, pauses) lead the run's message, before the closes they cause.
    let mut breaches: Vec<Alert> = Vec::new();
    let already: BTreeSet<String> = stored.exits.iter().map(|e| e.key.clone()).collect();

    let sent = send_closes(
        env,
        eval.closes(),
        &gathered.positions,
        &stored.dead,
        request_id,
    )
    .await;
    let failed = record_closes(
        &sent,
        &gathered.positions,
        &already,
        &Who {
            actor: &actor,
            request_id,
            now_ms: now,
        },
        &mut writes,
        &mut alerts,
    );
    // By the evaluation's key: a close sent again after a dead letter went out as `<key>~n`.
    let mut results: BTreeMap<String, (Close, Sent)> = sent
        .into_iter()
        .filter_map(|(c, s)| {
            let asked = c.key.split('~').next().unwrap_or_default().to_owned();
            s.map(|s| (asked, (c, s)))
        })
        .collect();

    // Stop moves (trail armed or moved, breakeven): visible like every action.
    for n in &eval.notes {
        let moved = matches!(
            n.kind,
            NoteKind::TrailArmed | NoteKind::TrailMoved | NoteKind::BreakevenSet
        );
        match &n.position {
            Some(id) if moved && !failed.contains(id) => {
                writes.push(
                    NewAudit::new(
                        &actor,
                        AuditAction::RiskStopMoved,
                        position_target(&id.to_string()),
                        &serde_json::json!({"note": n.kind, "what": n.message}),
                        request_id,
                    )
                    .insert(now),
                );
                alerts.push(notice(format!("↗ {}", n.message)));
            }
            _ => tracing::info!(request_id, note = ?n.kind, message = %n.message, "risk note"),
        }
    }

    // Pauses: added to the stored list (re-read just before the write).
    let added: Vec<PauseRecord> = eval.pauses().map(|p| pauses::record_of(p, now)).collect();
    let mut paused_after = pauses::add(&pauses_before, &[], now);
    if !added.is_empty() {
        let current = records::pauses(env).await.unwrap_or(pauses_before.clone());
        let list = pauses::add(&current, &added, now);
        match write_pauses(env, &list, &actor, request_id).await {
            Ok(()) => {
                paused_after = list;
                for (p, r) in eval.pauses().zip(&added) {
                    let network = p.scope.network.as_str();
                    let scope = match &p.scope.pair {
                        Some(pair) => format!(
                            "{} {} on {}",
                            pair.exchange.as_str(),
                            pair.symbol.canonical(),
                            network
                        ),
                        None => format!("every entry on {network}"),
                    };
                    let until = r
                        .until_ms
                        .map_or("until an operator resumes".to_owned(), |u| {
                            format!("until {}", alerts::format::time_of(u))
                        });
                    writes.push(
                        NewAudit::new(
                            &actor,
                            AuditAction::RiskPause,
                            format!("entries:{network}"),
                            &serde_json::to_value(r).unwrap_or_default(),
                            request_id,
                        )
                        .insert(now),
                    );
                    breaches.push(notice(format!(
                        "⏸ Entries paused: {scope}, {until} — {}. Exits keep running.",
                        r.reason
                    )));
                }
            }
            Err(e) => {
                problems.push(format!("entries not paused: {e}"));
                alerts.push(notice(format!(
                    "🚨 A protection wanted entries paused but the pause was not written: {e}"
                )));
            }
        }
    }
    for a in &eval.actions {
        if let Action::Flatten { network, reason } = a {
            let why = pauses::describe(&risk::evaluate::PauseReason::Breach(*reason));
            writes.push(
                NewAudit::new(
                    &actor,
                    AuditAction::RiskFlatten,
                    format!("entries:{}", network.as_str()),
                    &serde_json::json!({"reason": why}),
                    request_id,
                )
                .insert(now),
            );
            breaches.insert(
                0,
                notice(format!(
                    "⚠ Flattening every position on {}: {why}",
                    network.as_str()
                )),
            );
        }
    }
    breaches.append(&mut alerts);
    let mut alerts = breaches;

    // States: the new one for each open position, the previous one where its close failed.
    let closing: BTreeSet<PositionId> = eval
        .closes()
        .filter(|c| c.quantity == risk::evaluate::Quantity::All)
        .map(|c| c.position.clone())
        .collect();
    let mut kept: BTreeMap<PositionId, risk::evaluate::PositionState> = BTreeMap::new();
    for (id, state) in &eval.states {
        let state = if failed.contains(id) {
            gathered.states.get(id).cloned().unwrap_or_default()
        } else {
            state.clone()
        };
        kept.insert(id.clone(), state);
    }
    let stops = exchange_stops(
        env,
        &rules,
        &gathered,
        &kept,
        &closing,
        Who {
            actor: &actor,
            request_id,
            now_ms: now,
        },
        &mut writes,
        &mut alerts,
        &mut problems,
    )
    .await;
    for (id, state) in &kept {
        let stored = stops
            .get(id)
            .cloned()
            .or_else(|| gathered.stops.get(id).cloned());
        writes.push(ops::risk::state_upsert(&plan::state_row(
            id, state, stored, now,
        )));
    }
    for (row, stop_out) in &gathered.closed {
        writes.push(ops::risk::state_delete(row));
        writes.push(ops::risk::exit_gone_insert(&plan::gone_exit(
            row, *stop_out, now,
        )));
    }
    writes.extend(memory.iter().map(ops::risk::equity_state_upsert));

    let run_id = format!("{now:013}-{request_id}");
    let summary = Summary {
        run_id: run_id.clone(),
        at_ms: now,
        trigger: trigger.name(),
        positions: gathered.positions.clone(),
        accounts,
        actions: eval
            .actions
            .iter()
            .cloned()
            .map(|a| match a {
                Action::Close(c) => match results.remove(&c.key) {
                    Some((sent_as, sent)) => Done {
                        action: Action::Close(sent_as),
                        sent: Some(sent),
                    },
                    None => Done {
                        action: Action::Close(c),
                        sent: None,
                    },
                },
                other => Done {
                    action: other,
                    sent: None,
                },
            })
            .collect(),
        notes: eval.notes.clone(),
        problems,
        paused: paused_after,
    };
    writes.extend(ops::risk::run_insert(&RunRow {
        run_id,
        at_ms: now,
        trigger: trigger.name().into(),
        summary: serde_json::to_string(&summary).unwrap_or_else(|_| "{}".into()),
    }));
    let written = d1::batch(&db, &writes).await;
    send_alerts(env, alerts, request_id).await;
    written.map_err(|e| RunError::Write(e.to_string()))?;
    tracing::info!(
        request_id,
        positions = summary.positions.len(),
        actions = summary.actions.len(),
        problems = summary.problems.len(),
        "risk evaluated"
    );
    Ok(summary)
}
