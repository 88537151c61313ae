//! The audit log: who did what to which record, and when.
//!
//! Every operator action (a dead-letter replay or discard, a config change, the kill switch from
//! Telegram) appends one row to `audit_log`. Rows are never updated. The actor names the person
//! or tool (`cli:alice`, `telegram:12345`); authentication itself is the internal key.

use crate::query::{parse_num, parse_word, Cursor, FilterError, Page, Paging, Param, Query, Where};
use serde::{Deserialize, Serialize};

/// Longest actor name kept; longer ones are cut.
pub const MAX_ACTOR_LEN: usize = 64;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A dead letter was sent back to `trade-execution`.
    Replay,
    /// A dead letter was closed with a reason.
    Discard,
    /// A CONFIG_KV key was set (the kill switch included).
    ConfigSet,
    /// The agent-worker closed (part of) a position: a stop, trailing stop, take-profit, ROI
    /// target or flatten.
    RiskClose,
    /// A close the agent-worker asked for that did not go through.
    RiskCloseFailed,
    /// The trailing stop armed or moved, or the stop moved to breakeven.
    RiskStopMoved,
    /// Entries paused (a protection or an operator).
    RiskPause,
    /// Entries resumed by an operator.
    RiskResume,
    /// Every position of a network (or pair) closed by a breach or an operator.
    RiskFlatten,
    /// An operator closed a position from the dashboard (its close signal was accepted).
    PositionClose,
    /// An operator placed an order from the dashboard (its signal was accepted).
    ManualOrder,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replay => "replay",
            Self::Discard => "discard",
            Self::ConfigSet => "config_set",
            Self::RiskClose => "risk_close",
            Self::RiskCloseFailed => "risk_close_failed",
            Self::RiskStopMoved => "risk_stop_moved",
            Self::RiskPause => "risk_pause",
            Self::RiskResume => "risk_resume",
            Self::RiskFlatten => "risk_flatten",
            Self::PositionClose => "position_close",
            Self::ManualOrder => "manual_order",
        }
    }
}

/// The record an action is about: `dead_letter:12`, `config:trade:kill_switch`.
pub fn dead_letter_target(id: i64) -> String {
    format!("dead_letter:{id}")
}

/// A position the agent-worker acted on: `position:bybit:mainnet:BTCUSDT:long:1700000000000`.
pub fn position_target(position: &str) -> String {
    format!("position:{position}")
}

/// A signal an operator sent: `signal:<idempotency key>` (its path lists the entry).
pub fn signal_target(key: &str) -> String {
    format!("signal:{key}")
}

pub fn config_target(key: &str) -> String {
    format!("config:{key}")
}

/// An actor name safe to store and show: printable, no control characters, bounded; empty
/// becomes `unknown`.
pub fn clean_actor(raw: &str) -> String {
    let printable: String = raw.chars().filter(|c| !c.is_control()).collect();
    let cut: String = printable.trim().chars().take(MAX_ACTOR_LEN).collect();
    // Cutting can leave white space at the end.
    let cleaned = cut.trim_end();
    if cleaned.is_empty() {
        "unknown".into()
    } else {
        cleaned.to_owned()
    }
}

/// The actor of an action taken with the internal key: the key is the credential, so the actor
/// is named for it (`internal-key`) unless the caller names a person within the operators'
/// namespace (`cli:alice`). A name reserved to another credential (`telegram:` names come only
/// from a verified Telegram update) is never taken from a header: it is kept, prefixed with
/// `internal-key:`, so the log shows which key acted. Applying it twice changes nothing.
pub fn internal_key_actor(claimed: Option<&str>) -> String {
    let claimed = claimed.map(str::trim).filter(|c| !c.is_empty());
    let Some(claimed) = claimed else {
        return INTERNAL_KEY_ACTOR.to_owned();
    };
    let cleaned = clean_actor(claimed);
    let reserved = RESERVED_ACTOR_PREFIXES
        .iter()
        .any(|p| cleaned.to_ascii_lowercase().starts_with(p));
    if reserved {
        clean_actor(&format!("{INTERNAL_KEY_ACTOR}:{cleaned}"))
    } else {
        cleaned
    }
}

/// The actor of an action authenticated by the internal key alone.
pub const INTERNAL_KEY_ACTOR: &str = "internal-key";

/// Actor names only another credential may produce.
const RESERVED_ACTOR_PREFIXES: [&str; 1] = ["telegram:"];

/// One action to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAudit {
    pub actor: String,
    pub action: Action,
    pub target: String,
    /// JSON text with the specifics (new value, replay result, discard reason).
    pub detail: String,
    #[serde(default)]
    pub request_id: Option<String>,
}

impl NewAudit {
    pub fn new(
        actor: &str,
        action: Action,
        target: String,
        detail: &serde_json::Value,
        request_id: &str,
    ) -> Self {
        Self {
            actor: clean_actor(actor),
            action,
            target,
            detail: detail.to_string(),
            request_id: Some(request_id.to_owned()),
        }
    }

    pub fn insert(&self, now_ms: i64) -> Query {
        Query::new(
            "INSERT INTO audit_log (at_ms, actor, action, target, detail, request_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            self.params(now_ms),
        )
    }

    /// The insert, taking effect only if the statement just before it in the same D1 batch
    /// changed a row: an action that found nothing to do leaves no entry.
    pub fn insert_if_changed(&self, now_ms: i64) -> Query {
        Query::new(
            "INSERT INTO audit_log (at_ms, actor, action, target, detail, request_id)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE changes() > 0",
            self.params(now_ms),
        )
    }

    fn params(&self, now_ms: i64) -> Vec<Param> {
        vec![
            Param::Int(now_ms),
            clean_actor(&self.actor).into(),
            self.action.as_str().into(),
            self.target.as_str().into(),
            self.detail.as_str().into(),
            self.request_id.clone().into(),
        ]
    }
}

/// One recorded action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub request_id: Option<String>,
}

/// Narrows the audit list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub target: Option<String>,
    pub actor: Option<String>,
    pub since_ms: Option<i64>,
}

impl AuditFilter {
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
                "action" => f.action = Some(parse_word("action", v)?),
                "target" => f.target = Some(v.to_owned()),
                "actor" => f.actor = Some(v.to_owned()),
                "since" => f.since_ms = Some(parse_num("since", v)?),
                other => return Err(FilterError::Unknown(other.to_owned())),
            }
        }
        Ok((f, paging))
    }
}

const COLUMNS: &str = "id, at_ms, actor, action, target, detail, request_id";

/// One page of the audit log, newest first.
pub fn list_query(filter: &AuditFilter, paging: &Paging) -> Query {
    let mut w = Where::default();
    w.eq_opt("action", filter.action.clone());
    w.eq_opt("target", filter.target.clone());
    w.eq_opt("actor", filter.actor.clone());
    if let Some(t) = filter.since_ms {
        w.cmp("at_ms", ">=", t);
    }
    if let Some(c) = &paging.cursor {
        w.cmp("id", "<", c.at);
    }
    let limit = w.page_limit(paging);
    Query::new(
        format!(
            "SELECT {COLUMNS} FROM audit_log{} ORDER BY id DESC LIMIT {limit}",
            w.sql()
        ),
        w.params,
    )
}

pub fn cursor_of(e: &AuditEntry) -> Cursor {
    Cursor {
        at: e.id,
        tie: String::new(),
    }
}

pub type AuditPage = Page<AuditEntry>;

/// Every entry about one record, oldest first.
/// Entries about any of `targets`, oldest first (a signal's trail: its dead letters).
pub fn about_query(targets: &[String]) -> Query {
    if targets.is_empty() {
        return Query::new(format!("SELECT {COLUMNS} FROM audit_log WHERE 0"), vec![]);
    }
    let marks: Vec<String> = (1..=targets.len()).map(|i| format!("?{i}")).collect();
    Query::new(
        format!(
            "SELECT {COLUMNS} FROM audit_log WHERE target IN ({}) ORDER BY id LIMIT 100",
            marks.join(", ")
        ),
        targets.iter().map(|t| t.as_str().into()).collect(),
    )
}

/// Entries appended after `since_id`, oldest first (the dashboard's live feed).
pub fn since_query(since_id: i64, limit: u32) -> Query {
    Query::new(
        format!("SELECT {COLUMNS} FROM audit_log WHERE id > ?1 ORDER BY id LIMIT {limit}"),
        vec![since_id.into()],
    )
}

/// The newest entries recorded after `since_ms`, oldest first (a feed's first poll: its
/// cursor is then the newest id, whatever came before).
pub fn recent_query(since_ms: i64, limit: u32) -> Query {
    Query::new(
        format!(
            "SELECT {COLUMNS} FROM (SELECT {COLUMNS} FROM audit_log WHERE at_ms > ?1 \
             ORDER BY id DESC LIMIT {limit}) ORDER BY id"
        ),
        vec![since_ms.into()],
    )
}

pub fn history_query(target: &str) -> Query {
    Query::new(
        format!("SELECT {COLUMNS} FROM audit_log WHERE target = ?1 ORDER BY id LIMIT 100"),
        vec![target.into()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_internal_key_names_its_actor() {
        assert_eq!(internal_key_actor(None), "internal-key");
        assert_eq!(internal_key_actor(Some("  ")), "internal-key");
        assert_eq!(internal_key_actor(Some("cli:ops-test")), "cli:ops-test");
        assert_eq!(
            internal_key_actor(Some("telegram:-100:op")),
            "internal-key:telegram:-100:op",
            "a header cannot pass for a Telegram user"
        );
        assert_eq!(
            internal_key_actor(Some("TELEGRAM:1")),
            "internal-key:TELEGRAM:1"
        );
    }

    proptest! {
        #[test]
        fn the_internal_key_actor_is_stable_and_never_telegram(raw in ".{0,80}") {
            let once = internal_key_actor(Some(&raw));
            prop_assert!(!once.to_ascii_lowercase().starts_with("telegram:"));
            prop_assert_eq!(internal_key_actor(Some(&once)), once.clone());
            prop_assert!(once.chars().count() <= MAX_ACTOR_LEN);
        }
    }

    #[test]
    fn an_action_becomes_one_insert() {
        let a = NewAudit::new(
            "cli:alice",
            Action::Replay,
            dead_letter_target(12),
            &serde_json::json!({"key_state": "accepted"}),
            "req-1",
        );
        let q = a.insert(99);
        assert_eq!(q.params.len(), 6);
        assert_eq!(q.params[2], Param::Text("replay".into()));
        assert_eq!(q.params[3], Param::Text("dead_letter:12".into()));
        assert_eq!(
            q.params[4],
            Param::Text(r#"{"key_state":"accepted"}"#.into())
        );
    }

    #[test]
    fn audit_lists_filter_and_page() {
        let (f, p) = AuditFilter::from_pairs([("action", "replay"), ("limit", "3")]).unwrap();
        let q = list_query(&f, &p);
        assert!(q
            .sql
            .contains("WHERE action = ?1 ORDER BY id DESC LIMIT ?2"));
        assert_eq!(q.params[1], Param::Int(4));
        assert!(AuditFilter::from_pairs([("drop", "1")]).is_err());
    }

    proptest! {
        #[test]
        fn actors_are_bounded_and_printable(raw in ".{0,200}") {
            let a = clean_actor(&raw);
            prop_assert!(!a.is_empty());
            prop_assert!(a.chars().count() <= MAX_ACTOR_LEN);
            prop_assert!(!a.chars().any(char::is_control));
        }
    }
}
