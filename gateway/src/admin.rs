//! Operator config API (internal key): read the manifest, set a key, apply missing defaults.
//! The CLI and the local run command use it; it works the same against a deployed gateway.
//! A key is set through `runtime::config::set`, the one writer (validation, the kill switch in
//! every store shard, CONFIG_KV, the audit entry under the credential's actor).

use contracts::config::{self, RuntimeConfig};
use runtime::config::{read_all, CONFIG_KV};
use runtime::http::{json, require_internal, HttpError};
use worker::{Env, Method, Request, Response, Result};

pub async fn handle(req: Request, env: Env) -> Result<Response> {
    let request_id = runtime::random_id();
    match route(req, &env, &request_id).await {
        Ok(r) => Ok(r),
        Err(e) => e.respond(&request_id),
    }
}

async fn route(
    mut req: Request,
    env: &Env,
    request_id: &str,
) -> std::result::Result<Response, HttpError> {
    let operator = require_internal(&req, env)?;
    let internal = |e: worker::Error| HttpError::unavailable(e.to_string());
    let kv = env
        .kv(CONFIG_KV)
        .map_err(|e| HttpError::unavailable(format!("CONFIG_KV: {e}")))?;
    let path = req.path();
    let rest = path.trim_start_matches("/admin/config");
    match (req.method(), rest) {
        (Method::Get, "" | "/") => {
            let values = read_all(&kv).await.map_err(HttpError::unavailable)?;
            let (effective, warnings) = RuntimeConfig::read(|k| {
                values
                    .iter()
                    .find(|(key, _)| *key == k)
                    .and_then(|(_, v)| v.clone())
            });
            let keys: Vec<_> = values
                .iter()
                .map(|(k, v)| {
                    serde_json::json!({"key": k, "value": v, "default": config::default_of(k)})
                })
                .collect();
            json(
                200,
                &serde_json::json!({"keys": keys, "effective": effective, "warnings": warnings}),
            )
            .map_err(internal)
        }
        (Method::Post, "/apply-manifest") => {
            let values = read_all(&kv).await.map_err(HttpError::unavailable)?;
            let present = |k: &str| values.iter().any(|(key, v)| *key == k && v.is_some());
            let mut written = Vec::new();
            for (key, default) in config::missing_keys(present) {
                let kv_failed =
                    |e: worker::kv::KvError| HttpError::unavailable(format!("CONFIG_KV: {e}"));
                kv.put(key, default)
                    .map_err(kv_failed)?
                    .execute()
                    .await
                    .map_err(kv_failed)?;
                written.push(key);
            }
            runtime::config::invalidate();
            tracing::info!(written = ?written, actor = %operator.actor, "manifest applied");
            json(200, &serde_json::json!({"written": written})).map_err(internal)
        }
        (Method::Put, key) if key.starts_with('/') => {
            let key = key.trim_start_matches('/');
            if !runtime::config::is_writable(key) {
                return Err(HttpError::new(
                    404,
                    "unknown_key",
                    format!("{key} is not a hoox config key"),
                )
                .field("key"));
            }
            let value = req.text().await.map_err(internal)?;
            let set =
                runtime::config::set(env, key, &value, &operator.actor, "config_api", request_id)
                    .await
                    .map_err(|e| {
                        if matches!(e, runtime::config::SetError::Store(_)) {
                            tracing::error!(error = %e, "kill switch not set in the store");
                        }
                        HttpError::from(&e)
                    })?;
            json(
                200,
                &serde_json::json!({"key": set.key, "value": value.trim()}),
            )
            .map_err(internal)
        }
        _ => Err(HttpError::not_found("no such admin route")),
    }
}
