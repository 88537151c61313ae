//! The runtime manifest read from CONFIG_KV through a per-isolate cache, so a hot path pays a KV
//! round trip once per TTL instead of once per request or message.
//!
//! A failed read never yields a permissive config: [`RuntimeConfig::unreadable`] has the kill
//! switch on, and it is not cached, so the next call tries again.

use contracts::config::{cache_use, known_keys, CacheUse, RuntimeConfig};
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
    let reads = known_keys().map(|(key, _)| async move {
        kv.get(key)
            .text()
            .await
            .map(|v| (key, v))
            .map_err(|e| format!("{key}: {e}"))
    });
    futures::future::join_all(reads).await.into_iter().collect()
}
