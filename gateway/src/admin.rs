//! Operator config API (internal key): read the manifest, set a key, apply missing defaults.
//! The CLI and the local run command use it; it works the same against a deployed gateway.

use contracts::config::{self, RuntimeConfig};
use runtime::config::{read_all, CONFIG_KV};
use runtime::http::{error, internal_authorized, json};
use worker::{Env, Method, Request, Response, Result};

pub async fn handle(mut req: Request, env: Env) -> Result<Response> {
    let request_id = runtime::random_id();
    if !internal_authorized(&req, &env) {
        return error(
            401,
            "unauthorized",
            "missing or invalid X-Internal-Auth-Key",
            None,
            &request_id,
        );
    }
    let kv = match env.kv(CONFIG_KV) {
        Ok(kv) => kv,
        Err(e) => {
            return error(
                503,
                "unavailable",
                &format!("CONFIG_KV: {e}"),
                None,
                &request_id,
            )
        }
    };
    let path = req.path();
    let rest = path.trim_start_matches("/admin/config");
    match (req.method(), rest) {
        (Method::Get, "" | "/") => {
            let values = match read_all(&kv).await {
                Ok(v) => v,
                Err(e) => return error(503, "unavailable", &e, None, &request_id),
            };
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
        }
        (Method::Post, "/apply-manifest") => {
            let values = match read_all(&kv).await {
                Ok(v) => v,
                Err(e) => return error(503, "unavailable", &e, None, &request_id),
            };
            let present = |k: &str| values.iter().any(|(key, v)| *key == k && v.is_some());
            let mut written = Vec::new();
            for (key, default) in config::missing_keys(present) {
                kv.put(key, default)?.execute().await?;
                written.push(key);
            }
            runtime::config::invalidate();
            tracing::info!(written = ?written, "manifest applied");
            json(200, &serde_json::json!({"written": written}))
        }
        (Method::Put, key) if key.starts_with('/') => {
            let key = key.trim_start_matches('/');
            if !config::is_known_key(key) {
                return error(
                    404,
                    "unknown_key",
                    &format!("{key} is not a hoox config key"),
                    Some("key"),
                    &request_id,
                );
            }
            let actor = runtime::service::actor_of(&req, "operator");
            let value = req.text().await?;
            let value = value.trim();
            let key = match config::validate_write(key, value) {
                Ok(key) => key,
                Err(e @ config::ConfigWriteError::UnknownKey(_)) => {
                    return error(404, "unknown_key", &e.to_string(), Some("key"), &request_id)
                }
                Err(e) => {
                    return error(
                        400,
                        "invalid_field",
                        &e.to_string(),
                        Some("value"),
                        &request_id,
                    )
                }
            };
            if key == config::KILL_SWITCH {
                // The authoritative switch first: once this answers, no claim or submit passes.
                let on = config::parse_bool(value).unwrap_or(true);
                if let Err(e) = runtime::idempotency::Store::new(&env)
                    .set_kill_switch(on)
                    .await
                {
                    tracing::error!(error = %e, on, "kill switch not set in the store");
                    return error(
                        503,
                        "unavailable",
                        &format!("the kill switch was not set everywhere ({e}); retry"),
                        None,
                        &request_id,
                    );
                }
            }
            kv.put(key, value)?.execute().await?;
            runtime::config::invalidate();
            tracing::info!(key, value, actor = %actor, "config set");
            crate::proxy::audit_config(&env, &actor, key, value, &request_id).await;
            json(200, &serde_json::json!({"key": key, "value": value}))
        }
        _ => error(404, "not_found", "no such admin route", None, &request_id),
    }
}
