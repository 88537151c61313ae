//! The runtime manifest read from CONFIG_KV through a per-isolate cache, so a hot path pays a KV
//! round trip once per TTL instead of once per request or message.
//!
//! A failed read never yields a permissive config: [`RuntimeConfig::unreadable`] has the kill
//! switch on, and it is not cached, so the next call tries again.

use contracts::config::{RuntimeConfig, MANIFEST};
use std::cell::RefCell;
use std::rc::Rc;
use worker::{kv::KvStore, Env};

pub const CONFIG_KV: &str = "CONFIG_KV";
/// Var holding the cache TTL in milliseconds.
pub const CONFIG_CACHE_TTL_VAR: &str = "CONFIG_CACHE_TTL_MS";
const DEFAULT_TTL_MS: i64 = 5_000;

thread_local! {
    static CACHE: RefCell<Option<(i64, Rc<RuntimeConfig>)>> = const { RefCell::new(None) };
}

fn ttl_ms(env: &Env) -> i64 {
    env.var(CONFIG_CACHE_TTL_VAR)
        .ok()
        .and_then(|v| v.to_string().parse().ok())
        .unwrap_or(DEFAULT_TTL_MS)
}

/// The current runtime config (cached). `Err` carries why KV could not be read; callers that
/// must fail closed use [`RuntimeConfig::unreadable`] then.
pub async fn load(env: &Env) -> Result<Rc<RuntimeConfig>, String> {
    let now = crate::now_ms();
    let ttl = ttl_ms(env);
    if let Some(cfg) = CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(at, _)| now - at < ttl)
            .map(|(_, cfg)| cfg.clone())
    }) {
        return Ok(cfg);
    }
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
    let cfg = Rc::new(cfg);
    CACHE.with(|c| *c.borrow_mut() = Some((crate::now_ms(), cfg.clone())));
    Ok(cfg)
}

/// Drops the cached config (after this isolate changed a key itself).
pub fn invalidate() {
    CACHE.with(|c| *c.borrow_mut() = None);
}

/// Every manifest key's raw value, read concurrently.
pub async fn read_all(kv: &KvStore) -> Result<Vec<(&'static str, Option<String>)>, String> {
    let reads = MANIFEST.iter().map(|(key, _)| async move {
        kv.get(key)
            .text()
            .await
            .map(|v| (*key, v))
            .map_err(|e| format!("{key}: {e}"))
    });
    futures::future::join_all(reads).await.into_iter().collect()
}
