//! What the agent reads besides the exchanges: the `risk:*` rules and the entries-paused list
//! from CONFIG_KV, and its own rows in D1 (statements from `ops::risk`).

use ops::reconcile::EquityRow;
use ops::risk::{self as rows, DeadClose, EquityState, ExitRow, RunRow, StateRow};
use risk::pauses::{self, PauseRecord};
use risk::RuleSet;
use runtime::d1;
use worker::{D1Database, Env};

pub const DB_BINDING: &str = "DB";
/// The stored pause list (enforced by the trade-worker for opening signals).
pub const ENTRIES_PAUSED: &str = "trade:entries_paused";

/// Why the agent could not read what it needs.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("CONFIG_KV: {0}")]
    Kv(String),
    #[error("D1: {0}")]
    Db(String),
    #[error("{ENTRIES_PAUSED} holds no valid list ({0}); fix it with `hoox config set`")]
    Pauses(String),
}

pub fn db(env: &Env) -> Result<D1Database, ReadError> {
    env.d1(DB_BINDING).map_err(|e| ReadError::Db(e.to_string()))
}

/// Every `risk:*` key in CONFIG_KV, validated; a value that does not validate is left out and
/// reported (the config writer refuses such values, so one here was written around it).
pub async fn rules(env: &Env) -> Result<(RuleSet, Vec<String>), ReadError> {
    let kv = env
        .kv(runtime::config::CONFIG_KV)
        .map_err(|e| ReadError::Kv(e.to_string()))?;
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut list = kv.list().prefix("risk:".into());
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = list
            .execute()
            .await
            .map_err(|e| ReadError::Kv(e.to_string()))?;
        keys.extend(page.keys.into_iter().map(|k| k.name));
        match page.cursor {
            Some(c) if !page.list_complete => cursor = Some(c),
            _ => break,
        }
    }
    let reads = keys.iter().map(|k| {
        let kv = &kv;
        async move { (k.as_str(), kv.get(k).text().await) }
    });
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for (k, v) in futures::future::join_all(reads).await {
        match v {
            Ok(Some(v)) => values.push((k, v)),
            Ok(None) => {}
            Err(e) => errors.push(format!("{k}: unreadable ({e})")),
        }
    }
    let (set, invalid) = RuleSet::load(values.iter().map(|(k, v)| (*k, v.as_str())));
    errors.extend(invalid.iter().map(|e| e.to_string()));
    Ok((set, errors))
}

/// The stored pause list, read from CONFIG_KV itself (not a cache): it is about to be rewritten.
pub async fn pauses(env: &Env) -> Result<Vec<PauseRecord>, ReadError> {
    let kv = env
        .kv(runtime::config::CONFIG_KV)
        .map_err(|e| ReadError::Kv(e.to_string()))?;
    let raw = kv
        .get(ENTRIES_PAUSED)
        .text()
        .await
        .map_err(|e| ReadError::Kv(e.to_string()))?;
    pauses::parse(raw.as_deref()).map_err(|e| ReadError::Pauses(e.to_string()))
}

/// The agent's rows an evaluation reads.
pub struct Stored {
    pub states: Vec<StateRow>,
    pub exits: Vec<ExitRow>,
    pub equity: Vec<EquityState>,
    pub day: Vec<EquityRow>,
    /// Dead letters of the agent's closes.
    pub dead: Vec<DeadClose>,
}

pub async fn stored(db: &D1Database, today: &str, now_ms: i64) -> Result<Stored, ReadError> {
    let err = |e: worker::Error| ReadError::Db(e.to_string());
    let states = rows::states_query();
    let exits = rows::exits_since_query(now_ms.saturating_sub(risk::plan::EXITS_LOOKBACK_MS));
    let equity = rows::equity_states_query();
    let day = rows::day_equity_query(today);
    let dead = rows::dead_closes_query();
    let (states, exits, equity, day, dead) = futures::join!(
        d1::all::<StateRow>(db, &states),
        d1::all::<ExitRow>(db, &exits),
        d1::all::<EquityState>(db, &equity),
        d1::all::<EquityRow>(db, &day),
        d1::all::<DeadClose>(db, &dead),
    );
    Ok(Stored {
        states: states.map_err(err)?,
        exits: exits.map_err(err)?,
        equity: equity.map_err(err)?,
        day: day.map_err(err)?,
        dead: dead.map_err(err)?,
    })
}

/// The latest runs, newest first.
pub async fn runs(db: &D1Database, limit: i64) -> Result<Vec<RunRow>, ReadError> {
    d1::all::<RunRow>(db, &rows::runs_query(limit))
        .await
        .map_err(|e| ReadError::Db(e.to_string()))
}
