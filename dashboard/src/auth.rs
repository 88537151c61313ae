//! Logging in and out, and the session every other route needs: the password checked with
//! WebCrypto's PBKDF2 against `DASHBOARD_PASSWORD_HASH` (`console::password`), failures counted
//! per client in SESSIONS_KV (`console::guard::Failures`), the session record written under the
//! hash of a fresh 256-bit id (`console::session`), revoked on logout.
//!
//! KV is eventually consistent across Cloudflare's locations: a revoked session can be read
//! elsewhere for up to a minute (KV's edge cache), and the failure count is per location. Both
//! are bounded by the session's own timeouts and the password's strength; the alternative, a
//! Durable Object per session, is a round trip on every page.

use console::guard::{self, Failures};
use console::password::{PasswordHash, MAX_PASSWORD_BYTES};
use console::session::{self, Policy, Session, ID_BYTES};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast as _, JsValue};
use worker::{Env, Request};

pub const SESSIONS_KV: &str = "SESSIONS_KV";
pub const PASSWORD_HASH: &str = "DASHBOARD_PASSWORD_HASH";

/// Why a login or a session failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong user or password")]
    Wrong,
    #[error("too many failed logins from this address; try again in {0} s")]
    Locked(i64),
    #[error("the dashboard has no usable password: {0}")]
    Misconfigured(String),
    #[error("the session store is unavailable: {0}")]
    Store(String),
    #[error("no randomness available: {0}")]
    Random(String),
}

/// A signed-in request's session.
#[derive(Debug, Clone)]
pub struct Signed {
    pub id_key: String,
    pub session: Session,
}

pub fn policy(env: &Env) -> Policy {
    let var = |n: &str| env.var(n).ok().map(|v| v.to_string());
    Policy::with(
        var("DASHBOARD_SESSION_TTL_SECONDS").as_deref(),
        var("DASHBOARD_IDLE_TIMEOUT_SECONDS").as_deref(),
    )
}

pub fn user_name(env: &Env) -> String {
    env.var("DASHBOARD_USER")
        .map(|v| v.to_string())
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "operator".into())
}

fn random<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(buf)
}

fn kv(env: &Env) -> Result<worker::kv::KvStore, AuthError> {
    env.kv(SESSIONS_KV)
        .map_err(|e| AuthError::Store(e.to_string()))
}

fn store_err(e: impl std::fmt::Display) -> AuthError {
    AuthError::Store(e.to_string())
}

/// The session a request's cookie names, if it stands (touched when due).
pub async fn session(req: &Request, env: &Env) -> Result<Option<Signed>, AuthError> {
    let cookie = req
        .headers()
        .get("cookie")
        .ok()
        .flatten()
        .unwrap_or_default();
    let Some(id_key) = session::from_cookie_header(&cookie).and_then(session::kv_key) else {
        return Ok(None);
    };
    let kv = kv(env)?;
    let Some(mut s) = kv.get(&id_key).json::<Session>().await.map_err(store_err)? else {
        return Ok(None);
    };
    let now = runtime::now_ms();
    match s.check(&policy(env), now) {
        Err(ended) => {
            tracing::info!(user = %s.user, reason = %ended, "session ended");
            kv.delete(&id_key).await.map_err(store_err)?;
            Ok(None)
        }
        Ok(standing) => {
            if standing.touch {
                s.last_seen_at_ms = now;
                kv.put(&id_key, &s)
                    .map_err(store_err)?
                    .expiration_ttl(standing.ttl_s as u64)
                    .execute()
                    .await
                    .map_err(store_err)?;
            }
            Ok(Some(Signed { id_key, session: s }))
        }
    }
}

/// Checks a login; on success the new session's cookie.
pub async fn login(
    env: &Env,
    client_ip: Option<&str>,
    user: &str,
    password: &str,
) -> Result<(String, Session), AuthError> {
    let kv = kv(env)?;
    let now = runtime::now_ms();
    let limiter_key = guard::client_key(client_ip);
    let failures = kv
        .get(&limiter_key)
        .json::<Failures>()
        .await
        .map_err(store_err)?
        .unwrap_or_default();
    if let Some(wait) = failures.locked(now) {
        return Err(AuthError::Locked(wait));
    }
    let stored = runtime::http::secret(env, PASSWORD_HASH)
        .ok_or_else(|| AuthError::Misconfigured(format!("{PASSWORD_HASH} is not set")))?;
    let hash = PasswordHash::parse(&stored).map_err(|e| AuthError::Misconfigured(e.to_string()))?;
    let expected_user = user_name(env);
    let user_ok = contracts::auth::secret_eq(user.trim(), Some(&expected_user));
    // The password is derived even for a wrong user name, so timing tells nothing.
    let password_ok = password.len() <= MAX_PASSWORD_BYTES
        && hash.matches(&pbkdf2(password.as_bytes(), &hash.salt, hash.iterations).await?);
    if !(user_ok && password_ok) {
        let next = failures.after_failure(now);
        kv.put(&limiter_key, next)
            .map_err(store_err)?
            .expiration_ttl((guard::LOGIN_WINDOW_MS / 1000) as u64 + 60)
            .execute()
            .await
            .map_err(store_err)?;
        tracing::warn!(client = %limiter_key, failures = next.count, "login refused");
        return match next.locked(now) {
            Some(wait) => Err(AuthError::Locked(wait)),
            None => Err(AuthError::Wrong),
        };
    }
    if failures.count > 0 {
        kv.delete(&limiter_key).await.map_err(store_err)?;
    }
    let id = session::new_id(random::<ID_BYTES>()?);
    let s = Session::new(&expected_user, random::<ID_BYTES>()?, now);
    let p = policy(env);
    let key = session::kv_key(&id).ok_or_else(|| AuthError::Random("bad id".into()))?;
    kv.put(&key, &s)
        .map_err(store_err)?
        .expiration_ttl((p.lifetime_ms / 1000) as u64)
        .execute()
        .await
        .map_err(store_err)?;
    tracing::info!(user = %s.user, "logged in");
    Ok((session::set_cookie(&id, &p), s))
}

/// Ends a session: its record deleted, so the cookie names nothing.
pub async fn logout(env: &Env, signed: &Signed) -> Result<(), AuthError> {
    kv(env)?.delete(&signed.id_key).await.map_err(store_err)?;
    tracing::info!(user = %signed.session.user, "logged out");
    Ok(())
}

/// PBKDF2-HMAC-SHA256 through WebCrypto (`crypto.subtle`), 256 bits.
async fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> Result<Vec<u8>, AuthError> {
    let fail = |e: JsValue| AuthError::Misconfigured(format!("WebCrypto PBKDF2: {e:?}"));
    let global = js_sys::global();
    let crypto = Reflect::get(&global, &"crypto".into()).map_err(fail)?;
    let subtle = Reflect::get(&crypto, &"subtle".into()).map_err(fail)?;
    let call = |name: &str, args: &Array| -> Result<js_sys::Promise, AuthError> {
        let f: js_sys::Function = Reflect::get(&subtle, &name.into())
            .map_err(fail)?
            .dyn_into()
            .map_err(fail)?;
        f.apply(&subtle, args)
            .map_err(fail)?
            .dyn_into::<js_sys::Promise>()
            .map_err(fail)
    };
    let usages = Array::of1(&"deriveBits".into());
    let key = wasm_bindgen_futures::JsFuture::from(call(
        "importKey",
        &Array::of5(
            &"raw".into(),
            &Uint8Array::from(password).into(),
            &"PBKDF2".into(),
            &JsValue::FALSE,
            &usages,
        ),
    )?)
    .await
    .map_err(fail)?;
    let params = Object::new();
    Reflect::set(&params, &"name".into(), &"PBKDF2".into()).map_err(fail)?;
    Reflect::set(&params, &"hash".into(), &"SHA-256".into()).map_err(fail)?;
    Reflect::set(&params, &"salt".into(), &Uint8Array::from(salt).into()).map_err(fail)?;
    Reflect::set(&params, &"iterations".into(), &iterations.into()).map_err(fail)?;
    let bits = wasm_bindgen_futures::JsFuture::from(call(
        "deriveBits",
        &Array::of3(&params, &key, &256.into()),
    )?)
    .await
    .map_err(fail)?;
    Ok(Uint8Array::new(&bits).to_vec())
}
