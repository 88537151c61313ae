//! The policy a mail is judged by, read from CONFIG_KV on each mail (mail is rare, and a
//! sender removed from the list must stop at once): `email:authorized_senders` and
//! `email:trusted_authserv_ids` (`contracts::email`). Fail-closed: an absent or invalid sender
//! list allows no one, and an invalid authserv-id list trusts no one.

use contracts::email::{
    parse_trusted_authserv_ids, AuthorizedSenders, AUTHORIZED_SENDERS,
    DEFAULT_TRUSTED_AUTHSERV_IDS, TRUSTED_AUTHSERV_IDS,
};
use email::Policy;
use runtime::config::CONFIG_KV;
use worker::Env;

/// CONFIG_KV could not be read: nothing can be judged.
#[derive(Debug, thiserror::Error)]
#[error("the config store is unavailable: {0}")]
pub struct ConfigError(String);

pub async fn policy(env: &Env) -> Result<Policy, ConfigError> {
    let kv = env.kv(CONFIG_KV).map_err(|e| ConfigError(e.to_string()))?;
    let read = |key: &'static str| {
        let kv = &kv;
        async move {
            kv.get(key)
                .text()
                .await
                .map_err(|e| ConfigError(e.to_string()))
        }
    };
    let senders = match read(AUTHORIZED_SENDERS).await? {
        None => AuthorizedSenders::default(),
        Some(v) => AuthorizedSenders::parse(&v).unwrap_or_else(|e| {
            tracing::error!(key = AUTHORIZED_SENDERS, error = %e, "invalid; every mail is refused");
            AuthorizedSenders::default()
        }),
    };
    let ids = read(TRUSTED_AUTHSERV_IDS)
        .await?
        .unwrap_or_else(|| DEFAULT_TRUSTED_AUTHSERV_IDS.to_owned());
    let trusted_authserv_ids = parse_trusted_authserv_ids(&ids).unwrap_or_else(|e| {
        tracing::error!(key = TRUSTED_AUTHSERV_IDS, error = %e, "invalid; no authentication result is trusted");
        Vec::new()
    });
    Ok(Policy {
        senders,
        trusted_authserv_ids,
    })
}
