//! The runtime manifest read from CONFIG_KV through a per-isolate cache, so a hot path pays a KV
//! round trip once per TTL instead of once per request or message; and [`set`], the one writer
//! of a key (the config API and the Telegram kill switch alike).
//!
//! A failed read never yields a permissive config: [`RuntimeConfig::unreadable`] has the kill
//! switch on, and it is not cached, so the next call tries again.

use crate::http::HttpError;
use contracts::config::{
    cache_use, is_known_key, known_keys, parse_bool, validate_write, CacheUse, ConfigWriteError,
    RuntimeConfig, KILL_SWITCH,
};
use ops::audit::{self, Action, NewAudit};
use risk::rules::RuleError;
use std::cell::RefCell;
use std::rc::Rc;
use worker::{kv::KvStore, Env};

pub const CONFIG_KV: &str = "CONFIG_KV";
/// Var holding the cache TTL in milliseconds.
pub const CONFIG_CACHE_TTL_VAR: &str = "CONFIG_CACHE_TTL_MS";
const DEFAULT_TTL_MS: i64 = 5_000;

/// How long past its TTL a cached config may still be served to requests that arrive while
/// another request is refreshing it.
const MAX_STALE_MS: i64 = 10_000;

struct Cached {
    read_at: i64,
    cfg: Rc<RuntimeConfig>,
    /// A request of this isolate is reading CONFIG_KV now.
    refreshing: bool,
}

thread_local! {
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
    /// The TTL var, read once: vars are fixed for an isolate's life.
    static TTL_MS: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
}

fn ttl_ms(env: &Env) -> i64 {
    TTL_MS.with(|t| {
        if let Some(ttl) = t.get() {
            return ttl;
        }
        let ttl = env
            .var(CONFIG_CACHE_TTL_VAR)
            .ok()
            .and_then(|v| v.to_string().parse().ok())
            .unwrap_or(DEFAULT_TTL_MS);
        t.set(Some(ttl));
        ttl
    })
}

/// The current runtime config (cached). `Err` carries why KV could not be read; callers that
/// must fail closed use [`RuntimeConfig::unreadable`] then.
///
/// When the cache expires, one request reads KV while the others keep the previous value
/// (stale-while-revalidate, at most [`MAX_STALE_MS`] past the TTL): without that, every
/// request in flight at expiry read all keys at once, a stall the ingest benchmark showed as
/// its slowest requests.
pub async fn load(env: &Env) -> Result<Rc<RuntimeConfig>, String> {
    let now = crate::now_ms();
    let ttl = ttl_ms(env);
    let cached = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let entry = c.as_mut()?;
        if cache_use(now - entry.read_at, ttl, entry.refreshing, MAX_STALE_MS) != CacheUse::Refresh
        {
            return Some(entry.cfg.clone());
        }
        // This request refreshes; the ones behind it are served the cached value meanwhile.
        entry.refreshing = true;
        None
    });
    if let Some(cfg) = cached {
        return Ok(cfg);
    }
    let read = read_config(env).await;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        match &read {
            Ok(cfg) => {
                *c = Some(Cached {
                    read_at: crate::now_ms(),
                    cfg: cfg.clone(),
                    refreshing: false,
                })
            }
            // A failed read is not cached: the next request tries again.
            Err(_) => {
                if let Some(entry) = c.as_mut() {
                    entry.refreshing = false;
                }
            }
        }
    });
    read
}

async fn read_config(env: &Env) -> Result<Rc<RuntimeConfig>, String> {
    let kv = env.kv(CONFIG_KV).map_err(|e| e.to_string())?;
    let values = read_all(&kv).await?;
    let (cfg, warnings) = RuntimeConfig::read(|k| {
        values
            .iter()
            .find(|(key, _)| *key == k)
            .and_then(|(_, v)| v.clone())
    });
    for w in warnings {
        tracing::warn!(key = w.key, message = %w.message, "config value ignored");
    }
    Ok(Rc::new(cfg))
}

/// Drops the cached config (after this isolate changed a key itself).
pub fn invalidate() {
    CACHE.with(|c| *c.borrow_mut() = None);
}

/// Every known key's raw value (the manifest's and those beside it), read concurrently.
pub async fn read_all(kv: &KvStore) -> Result<Vec<(&'static str, Option<String>)>, String> {
    crate::meter::count(crate::meter::Op::KvRead, known_keys().count(), CONFIG_KV);
    let reads = known_keys().map(|(key, _)| async move {
        kv.get(key)
            .text()
            .await
            .map(|v| (key, v))
            .map_err(|e| format!("{key}: {e}"))
    });
    futures::future::join_all(reads).await.into_iter().collect()
}

/// Why [`set`] changed nothing (or not everything).
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error(transparent)]
    Refused(#[from] ConfigWriteError),
    /// A `risk:*` value out of its rule's bounds (the error names the key and the bound).
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// The kill switch is set in every store shard first; a shard that did not take it stops
    /// the write (retry: setting it again is harmless).
    #[error("the kill switch was not set everywhere ({0}); retry")]
    Store(String),
    #[error("CONFIG_KV: {0}")]
    Kv(String),
}

impl From<&SetError> for HttpError {
    fn from(e: &SetError) -> Self {
        match e {
            SetError::Refused(ConfigWriteError::UnknownKey(_)) => {
                HttpError::new(404, "unknown_key", e.to_string()).field("key")
            }
            SetError::Refused(ConfigWriteError::Invalid { .. }) => {
                HttpError::new(400, "invalid_field", e.to_string()).field("value")
            }
            SetError::Rule(RuleError::UnknownKey { .. }) => {
                HttpError::new(404, "unknown_key", e.to_string()).field("key")
            }
            SetError::Rule(_) => HttpError::new(400, "invalid_field", e.to_string()).field("value"),
            SetError::Store(_) | SetError::Kv(_) => HttpError::unavailable(e.to_string()),
        }
    }
}

/// A write that took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    pub key: String,
    /// Whether the audit log has it (the change stands either way).
    pub audited: bool,
}

/// Whether `key` is one [`set`] may write: a known config key, or a `risk:*` rule key (whose
/// exact form `risk::rules::validate` judges). Lets a caller refuse a stray key before reading a
/// body.
pub fn is_writable(key: &str) -> bool {
    is_known_key(key) || key.starts_with(RISK_PREFIX)
}

const RISK_PREFIX: &str = "risk:";

/// Sets one key, the one way any worker does: validated (`contracts::config::validate_write`;
/// a `risk:*` rule by `risk::rules::validate`, its bounds and per-symbol form),
/// the kill switch first in every store shard (once this answers, no claim or submit passes),
/// then CONFIG_KV, this isolate's cache dropped, and the change audited under `actor` with
/// `via` naming the door it came through. The audit log being down never undoes a change.
pub async fn set(
    env: &Env,
    key: &str,
    value: &str,
    actor: &str,
    via: &str,
    request_id: &str,
) -> Result<Set, SetError> {
    set_because(env, key, value, actor, via, None, request_id).await
}

/// [`set`] with the operator's reason kept in the audit entry (the dashboard's kill switch).
pub async fn set_because(
    env: &Env,
    key: &str,
    value: &str,
    actor: &str,
    via: &str,
    reason: Option<&str>,
    request_id: &str,
) -> Result<Set, SetError> {
    let value = value.trim();
    let key = if key.starts_with(RISK_PREFIX) {
        risk::rules::validate(key, value)?;
        key
    } else {
        validate_write(key, value)?
    };
    if key == KILL_SWITCH {
        let on = parse_bool(value).unwrap_or(true);
        crate::idempotency::Store::new(env)
            .set_kill_switch(on)
            .await
            .map_err(|e| SetError::Store(e.to_string()))?;
    }
    let kv = env.kv(CONFIG_KV).map_err(|e| SetError::Kv(e.to_string()))?;
    kv.put(key, value)
        .map_err(|e| SetError::Kv(e.to_string()))?
        .execute()
        .await
        .map_err(|e| SetError::Kv(e.to_string()))?;
    crate::meter::count(crate::meter::Op::KvWrite, 1, CONFIG_KV);
    invalidate();
    tracing::info!(key, value, actor, via, "config set");
    let entry = NewAudit::new(
        actor,
        Action::ConfigSet,
        audit::config_target(key),
        &match reason {
            Some(r) => serde_json::json!({"key": key, "value": value, "via": via, "reason": r}),
            None => serde_json::json!({"key": key, "value": value, "via": via}),
        },
        request_id,
    );
    let audited = match crate::audit::append(env, &entry, request_id).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, key, "config change not audit-logged");
            false
        }
    };
    Ok(Set {
        key: key.to_owned(),
        audited,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_keys_are_writable_and_judged_by_the_risk_rules() {
        assert!(is_writable("risk:stop_loss_pct:BTCUSDT"));
        assert!(is_writable(KILL_SWITCH));
        assert!(!is_writable("nope:key"));
        let e = SetError::from(risk::rules::validate("risk:stop_loss_pct", "150").unwrap_err());
        let h = HttpError::from(&e);
        assert_eq!(
            (h.status, h.code, h.field.as_deref()),
            (400, "invalid_field", Some("value"))
        );
        assert!(
            h.message.contains("risk:stop_loss_pct") && h.message.contains("100"),
            "{}",
            h.message
        );
        let unknown = SetError::from(risk::rules::validate("risk:nope", "1").unwrap_err());
        assert_eq!(HttpError::from(&unknown).status, 404);
    }
}
