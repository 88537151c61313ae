//! The CONFIG_KV runtime manifest: sixteen keys, their defaults, and their typed reading; and the
//! typed keys features add beside it ([`EXTRA_KEYS`]).
//!
//! Values are plain strings in KV. Reading is forgiving (a bad value falls back to its default and
//! is reported) except for the kill switch, which fails closed: anything unreadable means "on".
//! Applying the manifest writes only missing manifest keys, so it never resets an operator's
//! choice; an absent key beside the manifest simply reads as its default.
//!
//! Every write (`PUT /admin/config/<key>`) is checked by [`validate_write`]: a value that would
//! read with a warning is refused.
//!
//! Ranges enforced on reading (out of range = a warning and the default):
//!
//! - `retry:policy`: finite, `0 < initial_seconds ≤ max_delay_seconds ≤ 43200` (the Cloudflare
//!   Queues retry-delay cap of 12 h, [`MAX_RETRY_DELAY_SECONDS`]), `multiplier ≥ 1`,
//!   `0 ≤ jitter ≤ 1`.
//! - `idempotency:ttl_seconds`: at least one day (86 400 s, [`MIN_IDEMPOTENCY_TTL_SECONDS`]); a
//!   lower value is a warning and reads as the floor (a sender retrying within a day must still
//!   find its key).
//!
//! Keys beside the manifest:
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `trade:max_leverage` | int 1–125 | 20 | a signal's leverage, or `trade:default_leverage` when it names none, above this is refused |
//! | `trade:max_quantity` | JSON object symbol → decimal | `{}` | per-symbol cap on `quantity` (base-asset units), e.g. `{"BTCUSDT":"0.5"}`; a symbol not named has no cap |
//! | `trade:price_band_pct` | decimal, 0 < x ≤ 100 | 5 | a sender's `price` further than this percentage from the exchange's reference price is refused |
//! | `idempotency:fingerprint_window_seconds` | int 1–3600 | 60 | how long identical fingerprinted signals (no idempotency key) count as one |
//! | `trade:follow_orders_seconds` | int 60–2592000 | 86400 | how long an order that is not final (resting, partly filled, acknowledged without fills) is looked up again; after it, it is left open and shown as such |
//! | `telegram:allowed_user_ids` | JSON array of user ids | `[]` | the Telegram users whose `/kill_on` and `/kill_off` take effect (in an allow-listed chat); read-only commands need only the chat |
//! | `webhook:require_signature` | bool | false | refuse signals without a valid Standard Webhooks signature (`apiKey` and Bearer no longer suffice) |
//! | `email:authorized_senders` | JSON array of addresses or domains | `[]` | who may send signals by mail ([`crate::email`]); empty refuses every mail |
//! | `email:trusted_authserv_ids` | JSON array of host names | `["mx.cloudflare.net"]` | whose `Authentication-Results` the email-worker believes |
//! | `trade:entries_paused` | JSON list of pauses (see [`crate::pause`]) | `[]` | opening signals a pause in force covers become `entries_paused` dead letters; closes pass. Unreadable = every entry paused |

use crate::signal::Exchange;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;

pub const KILL_SWITCH: &str = "trade:kill_switch";
pub const MODE: &str = "trade:mode";
pub const DEFAULT_LEVERAGE: &str = "trade:default_leverage";
pub const MAX_ORDER_NOTIONAL: &str = "trade:max_order_notional";
pub const ALLOWED_SYMBOLS: &str = "trade:allowed_symbols";
pub const ROUTING: &str = "trade:routing";
pub const MAX_SIGNAL_AGE_SECONDS: &str = "trade:max_signal_age_seconds";
// The exchanges' keys come from the registry (one row per exchange).
pub const BYBIT_ENABLED: &str = registry::BYBIT.enabled_key;
pub const BINANCE_ENABLED: &str = registry::BINANCE.enabled_key;
pub const MEXC_ENABLED: &str = registry::MEXC.enabled_key;
pub const RATELIMIT_ORDERS: &str = "ratelimit:orders";
pub const RETRY_POLICY: &str = "retry:policy";
pub const IP_CHECK_ENABLED: &str = "webhook:ip_check_enabled";
pub const ALLOWED_IPS: &str = "webhook:allowed_ips";
pub const TELEGRAM_ALLOWED_CHAT_IDS: &str = "telegram:allowed_chat_ids";
pub const IDEMPOTENCY_TTL_SECONDS: &str = "idempotency:ttl_seconds";

pub const MAX_LEVERAGE: &str = "trade:max_leverage";
pub const MAX_QUANTITY: &str = "trade:max_quantity";
pub const PRICE_BAND_PCT: &str = "trade:price_band_pct";
pub const FINGERPRINT_WINDOW_SECONDS: &str = "idempotency:fingerprint_window_seconds";
pub const FOLLOW_ORDERS_SECONDS: &str = "trade:follow_orders_seconds";
pub const TELEGRAM_ALLOWED_USER_IDS: &str = "telegram:allowed_user_ids";
pub const REQUIRE_SIGNATURE: &str = "webhook:require_signature";
pub const ENTRIES_PAUSED: &str = "trade:entries_paused";
/// The longest `trade:follow_orders_seconds`: 30 days.
pub const MAX_FOLLOW_ORDERS_SECONDS: u32 = 30 * 86_400;

/// The floor of `idempotency:ttl_seconds`: one day.
pub const MIN_IDEMPOTENCY_TTL_SECONDS: u32 = 86_400;

/// The longest delay Cloudflare Queues accepts for `message.retry({ delaySeconds })`
/// (Queues limits: "delaySeconds (when sending or retrying)", 12 hours).
pub const MAX_RETRY_DELAY_SECONDS: u32 = 43_200;

/// The manifest: every key hoox reads from CONFIG_KV with its default, in documentation order.
pub const MANIFEST: [(&str, &str); 16] = [
    (KILL_SWITCH, "false"),
    (MODE, "paper"),
    (DEFAULT_LEVERAGE, "1"),
    (MAX_ORDER_NOTIONAL, "1000"),
    (ALLOWED_SYMBOLS, "[]"),
    (ROUTING, "{}"),
    (MAX_SIGNAL_AGE_SECONDS, "300"),
    (BYBIT_ENABLED, "true"),
    (BINANCE_ENABLED, "true"),
    (MEXC_ENABLED, "true"),
    // `registry::default_order_quotas()`, spelled out for a const (a test holds them equal).
    (
        RATELIMIT_ORDERS,
        r#"{"bybit":"10/s","binance":"5/s","mexc":"5/s","paper":"100/s"}"#,
    ),
    (
        RETRY_POLICY,
        r#"{"initial_seconds":2,"multiplier":2,"max_delay_seconds":900,"jitter":0.2}"#,
    ),
    (IP_CHECK_ENABLED, "false"),
    (
        ALLOWED_IPS,
        r#"["52.89.214.238","34.212.75.30","54.218.53.128","52.32.178.7"]"#,
    ),
    (TELEGRAM_ALLOWED_CHAT_IDS, "[]"),
    (IDEMPOTENCY_TTL_SECONDS, "86400"),
];

/// Typed keys beside the manifest (SPEC §6: "features add their own namespaced keys beside
/// it"), with their defaults. Not written by applying the manifest: absent reads as the default.
pub const EXTRA_KEYS: [(&str, &str); 11] = [
    (MAX_LEVERAGE, "20"),
    (MAX_QUANTITY, "{}"),
    (PRICE_BAND_PCT, "5"),
    (FINGERPRINT_WINDOW_SECONDS, "60"),
    (DLQ_STUCK_AFTER_SECONDS, "1800"),
    (FOLLOW_ORDERS_SECONDS, "86400"),
    (TELEGRAM_ALLOWED_USER_IDS, "[]"),
    (REQUIRE_SIGNATURE, "false"),
    (ENTRIES_PAUSED, "[]"),
    (crate::email::AUTHORIZED_SENDERS, "[]"),
    (
        crate::email::TRUSTED_AUTHSERV_IDS,
        crate::email::DEFAULT_TRUSTED_AUTHSERV_IDS,
    ),
];

pub fn is_manifest_key(key: &str) -> bool {
    MANIFEST.iter().any(|(k, _)| *k == key)
}

/// Every key hoox reads from CONFIG_KV: the manifest, then [`EXTRA_KEYS`].
pub fn known_keys() -> impl Iterator<Item = (&'static str, &'static str)> {
    MANIFEST.into_iter().chain(EXTRA_KEYS)
}

/// A manifest key or a key beside it.
pub fn is_known_key(key: &str) -> bool {
    known_keys().any(|(k, _)| k == key)
}

/// The default of any known key (manifest or beside it).
pub fn default_of(key: &str) -> Option<&'static str> {
    known_keys().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Why a config write was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigWriteError {
    #[error("{0} is not a hoox config key")]
    UnknownKey(String),
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// Checks one write before it reaches KV: the key must be known and the value must read without
/// a warning (so a refused write never changes what hoox runs with). Returns the key.
pub fn validate_write(key: &str, value: &str) -> Result<&'static str, ConfigWriteError> {
    let key = known_keys()
        .map(|(k, _)| k)
        .find(|k| *k == key)
        .ok_or_else(|| ConfigWriteError::UnknownKey(key.to_owned()))?;
    // Read by the dlq worker alone, not part of `RuntimeConfig`.
    if key == DLQ_STUCK_AFTER_SECONDS {
        return match parse_dlq_stuck_after_seconds(value) {
            Some(_) => Ok(key),
            None => Err(ConfigWriteError::Invalid {
                key,
                message: format!("whole seconds from 1 to {MAX_DLQ_STUCK_AFTER_SECONDS}"),
            }),
        };
    }
    // Read by the email-worker alone (`crate::email`).
    let email = match key {
        crate::email::AUTHORIZED_SENDERS => {
            Some(crate::email::AuthorizedSenders::parse(value).map(|_| ()))
        }
        crate::email::TRUSTED_AUTHSERV_IDS => {
            Some(crate::email::parse_trusted_authserv_ids(value).map(|_| ()))
        }
        _ => None,
    };
    if let Some(checked) = email {
        return checked
            .map(|()| key)
            .map_err(|message| ConfigWriteError::Invalid { key, message });
    }
    let (_, warnings) = RuntimeConfig::read(|k| (k == key).then(|| value.trim().to_owned()));
    match warnings.into_iter().find(|w| w.key == key) {
        Some(w) => Err(ConfigWriteError::Invalid {
            key,
            message: w.message,
        }),
        None => Ok(key),
    }
}

/// The keys applying the manifest must write: those absent from `present`.
pub fn missing_keys<'a>(
    present: impl Fn(&str) -> bool + 'a,
) -> impl Iterator<Item = (&'static str, &'static str)> + 'a {
    MANIFEST.into_iter().filter(move |(k, _)| !present(k))
}

// ---- Keys beside the manifest (namespaced, typed, validated at every write) ----

/// `dlq:stuck_after_seconds`: how long a key may sit accepted or abandoned (not ended, not dead,
/// no live claim) before the dlq worker's sweep records it as a dead letter (`unclaimed` /
/// `abandoned`). Longer than `retry:policy`'s default 900 s maximum delay, so a key that is only
/// waiting for its next retry is not reported.
pub const DLQ_STUCK_AFTER_SECONDS: &str = "dlq:stuck_after_seconds";
pub const DEFAULT_DLQ_STUCK_AFTER_SECONDS: u32 = 1800;
/// The longest threshold accepted: Cloudflare Queues keeps a message at most 14 days.
pub const MAX_DLQ_STUCK_AFTER_SECONDS: u32 = 14 * 86_400;

/// Reads `dlq:stuck_after_seconds`: whole seconds, 1 to 14 days. `None` for anything else (the
/// reader then uses [`DEFAULT_DLQ_STUCK_AFTER_SECONDS`]; a writer refuses it).
pub fn parse_dlq_stuck_after_seconds(v: &str) -> Option<u32> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|s| (1..=MAX_DLQ_STUCK_AFTER_SECONDS).contains(s))
}

/// The sweep's threshold from the stored value (absent or unreadable: the default, and whether
/// it was unreadable, so the caller can warn).
pub fn dlq_stuck_after_seconds(raw: Option<&str>) -> (u32, bool) {
    match raw {
        None => (DEFAULT_DLQ_STUCK_AFTER_SECONDS, false),
        Some(v) => match parse_dlq_stuck_after_seconds(v) {
            Some(s) => (s, false),
            None => (DEFAULT_DLQ_STUCK_AFTER_SECONDS, true),
        },
    }
}

#[cfg(test)]
mod dlq_key_tests {
    use super::*;

    #[test]
    fn stuck_after_seconds_is_whole_seconds_within_bounds() {
        assert_eq!(dlq_stuck_after_seconds(None), (1800, false));
        assert_eq!(dlq_stuck_after_seconds(Some(" 5 ")), (5, false));
        assert_eq!(dlq_stuck_after_seconds(Some("1209600")), (1_209_600, false));
        for bad in ["0", "-1", "1.5", "soon", "", "1209601"] {
            assert_eq!(dlq_stuck_after_seconds(Some(bad)), (1800, true), "{bad:?}");
        }
        assert!(
            !is_manifest_key(DLQ_STUCK_AFTER_SECONDS),
            "beside the manifest, not in it"
        );
    }
}

/// `true`, `1`, `yes` and `on` (any case) are true; `false`, `0`, `no`, `off` are false.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Paper,
    Live,
}

/// A governor quota: `count` orders per `per_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub count: u32,
    pub per_seconds: u32,
}

impl FromStr for Quota {
    type Err = ();
    /// `10/s`, `600/m`, `5/2s`.
    fn from_str(s: &str) -> Result<Self, ()> {
        let (count, per) = s.trim().split_once('/').ok_or(())?;
        let count: u32 = count.trim().parse().map_err(|_| ())?;
        let per = per.trim();
        let (n, unit) = per.split_at(per.find(|c: char| c.is_ascii_alphabetic()).ok_or(())?);
        let n: u32 = if n.is_empty() {
            1
        } else {
            n.parse().map_err(|_| ())?
        };
        let unit = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => return Err(()),
        };
        if count == 0 || n == 0 {
            return Err(());
        }
        Ok(Self {
            count,
            // A window longer than u32 seconds is refused, not wrapped.
            per_seconds: n.checked_mul(unit).ok_or(())?,
        })
    }
}

/// `retry:policy`: the backoff of a retryable execution failure. A policy is valid when every
/// field is finite, `0 < initial_seconds ≤ max_delay_seconds ≤ MAX_RETRY_DELAY_SECONDS`,
/// `multiplier ≥ 1` and `0 ≤ jitter ≤ 1` ([`Self::is_valid`]); any other is a warning and the
/// default is used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub initial_seconds: f64,
    pub multiplier: f64,
    pub max_delay_seconds: f64,
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_seconds: 2.0,
            multiplier: 2.0,
            max_delay_seconds: 900.0,
            jitter: 0.2,
        }
    }
}

/// The manifest read into types.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuntimeConfig {
    pub kill_switch: bool,
    pub mode: Mode,
    pub default_leverage: u8,
    pub max_order_notional: Decimal,
    pub allowed_symbols: Vec<String>,
    pub routing: BTreeMap<String, Exchange>,
    pub max_signal_age_seconds: u64,
    pub exchange_enabled: BTreeMap<Exchange, bool>,
    pub rate_limits: BTreeMap<Exchange, Quota>,
    pub retry: RetryPolicy,
    pub ip_check_enabled: bool,
    pub allowed_ips: Vec<String>,
    pub telegram_allowed_chat_ids: Vec<i64>,
    /// At least [`MIN_IDEMPOTENCY_TTL_SECONDS`].
    pub idempotency_ttl_seconds: u32,
    /// `trade:max_leverage` (beside the manifest): 1–125.
    pub max_leverage: u8,
    /// `trade:max_quantity` (beside the manifest): canonical symbol → largest `quantity`
    /// (base-asset units, > 0). A symbol not in it has no per-symbol cap.
    pub max_quantity: BTreeMap<String, Decimal>,
    /// `trade:price_band_pct` (beside the manifest): 0 < x ≤ 100.
    pub price_band_pct: Decimal,
    /// `idempotency:fingerprint_window_seconds` (beside the manifest): 1–3600.
    pub fingerprint_window_seconds: u32,
    /// `trade:follow_orders_seconds` (beside the manifest): 60 s to 30 days. How long an order
    /// that is not final is followed before it is left open.
    pub follow_orders_seconds: u32,
    /// `telegram:allowed_user_ids` (beside the manifest): who may change state from Telegram.
    pub telegram_allowed_user_ids: Vec<i64>,
    /// `webhook:require_signature` (beside the manifest): unsigned signals are refused.
    pub webhook_require_signature: bool,
    /// `trade:entries_paused` (beside the manifest): the pauses of opening signals, expired
    /// ones included (they are ignored when judged, see [`crate::pause::in_force`]).
    pub entries_paused: Vec<crate::pause::EntryPause>,
}

/// A key whose value did not parse; its default was used instead (the kill switch: "on").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigWarning {
    pub key: &'static str,
    pub message: String,
}

impl RuntimeConfig {
    /// Reads every key through `get` (None = absent). Never fails: see [`ConfigWarning`].
    pub fn read(get: impl Fn(&str) -> Option<String>) -> (Self, Vec<ConfigWarning>) {
        let mut warnings = Vec::new();
        let value = |key: &'static str| -> String {
            get(key).unwrap_or_else(|| default_of(key).unwrap_or_default().to_owned())
        };
        fn parsed<T>(
            warnings: &mut Vec<ConfigWarning>,
            key: &'static str,
            raw: &str,
            parse: impl FnOnce(&str) -> Option<T>,
        ) -> Option<T> {
            let v = parse(raw);
            if v.is_none() {
                warnings.push(ConfigWarning {
                    key,
                    message: format!("unreadable value {raw:?}; default used"),
                });
            }
            v
        }
        /// Like `parsed`, with the reason the value was refused in the warning.
        fn checked<T>(
            warnings: &mut Vec<ConfigWarning>,
            key: &'static str,
            raw: &str,
            parse: impl FnOnce(&str) -> Result<T, String>,
        ) -> Option<T> {
            match parse(raw) {
                Ok(v) => Some(v),
                Err(why) => {
                    warnings.push(ConfigWarning {
                        key,
                        message: format!("{raw:?} {why}; default used"),
                    });
                    None
                }
            }
        }
        let default_cfg = Self::defaults();
        let w = &mut warnings;

        let kill_raw = value(KILL_SWITCH);
        // Fail closed: an unreadable kill switch is on.
        let kill_switch = parsed(w, KILL_SWITCH, &kill_raw, parse_bool).unwrap_or(true);
        let mode = parsed(w, MODE, &value(MODE), |v| {
            match v.trim().to_ascii_lowercase().as_str() {
                "paper" => Some(Mode::Paper),
                "live" => Some(Mode::Live),
                _ => None,
            }
        })
        .unwrap_or(Mode::Paper);
        let default_leverage = parsed(w, DEFAULT_LEVERAGE, &value(DEFAULT_LEVERAGE), |v| {
            v.trim()
                .parse::<u8>()
                .ok()
                .filter(|l| (1..=125).contains(l))
        })
        .unwrap_or(default_cfg.default_leverage);
        let max_order_notional = parsed(w, MAX_ORDER_NOTIONAL, &value(MAX_ORDER_NOTIONAL), |v| {
            Decimal::from_str(v.trim())
                .ok()
                .filter(|d| *d > Decimal::ZERO)
        })
        .unwrap_or(default_cfg.max_order_notional);
        let allowed_symbols = parsed(w, ALLOWED_SYMBOLS, &value(ALLOWED_SYMBOLS), |v| {
            serde_json::from_str::<Vec<String>>(v).ok().map(|list| {
                list.iter()
                    .filter_map(|s| crate::symbol::Symbol::parse(s).ok())
                    .map(|s| s.canonical())
                    .collect()
            })
        })
        .unwrap_or_default();
        let routing = parsed(w, ROUTING, &value(ROUTING), |v| {
            let raw: BTreeMap<String, String> = serde_json::from_str(v).ok()?;
            raw.into_iter()
                .map(|(sym, ex)| {
                    Some((
                        crate::symbol::Symbol::parse(&sym).ok()?.canonical(),
                        ex.parse::<Exchange>().ok()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
        let max_signal_age_seconds = parsed(
            w,
            MAX_SIGNAL_AGE_SECONDS,
            &value(MAX_SIGNAL_AGE_SECONDS),
            |v| v.trim().parse::<u64>().ok(),
        )
        .unwrap_or(default_cfg.max_signal_age_seconds);
        let mut exchange_enabled = BTreeMap::new();
        for info in registry::EXCHANGES {
            let (Ok(ex), key) = (info.name.parse::<Exchange>(), info.enabled_key) else {
                continue;
            };
            // A disabled exchange is the safe reading of garbage here too.
            exchange_enabled.insert(ex, parsed(w, key, &value(key), parse_bool).unwrap_or(false));
        }
        exchange_enabled.insert(Exchange::Paper, true);
        let rate_limits = parsed(w, RATELIMIT_ORDERS, &value(RATELIMIT_ORDERS), |v| {
            let raw: BTreeMap<String, String> = serde_json::from_str(v).ok()?;
            let mut out = default_cfg.rate_limits.clone();
            for (ex, q) in raw {
                out.insert(ex.parse().ok()?, q.parse().ok()?);
            }
            Some(out)
        })
        .unwrap_or(default_cfg.rate_limits.clone());
        let retry = checked(w, RETRY_POLICY, &value(RETRY_POLICY), |v| {
            let p = serde_json::from_str::<RetryPolicy>(v).map_err(|_| {
                "is not a policy {initial_seconds, multiplier, max_delay_seconds, jitter}"
                    .to_owned()
            })?;
            if p.is_valid() {
                Ok(p)
            } else {
                Err(format!(
                    "is out of range (finite, 0 < initial_seconds <= max_delay_seconds <= \
                     {MAX_RETRY_DELAY_SECONDS}, the Cloudflare Queues retry-delay cap; \
                     multiplier >= 1; 0 <= jitter <= 1)"
                ))
            }
        })
        .unwrap_or_default();
        let ip_check_enabled =
            parsed(w, IP_CHECK_ENABLED, &value(IP_CHECK_ENABLED), parse_bool).unwrap_or(false);
        let allowed_ips = parsed(w, ALLOWED_IPS, &value(ALLOWED_IPS), |v| {
            serde_json::from_str::<Vec<String>>(v).ok()
        })
        .unwrap_or(default_cfg.allowed_ips.clone());
        let telegram_allowed_chat_ids = parsed(
            w,
            TELEGRAM_ALLOWED_CHAT_IDS,
            &value(TELEGRAM_ALLOWED_CHAT_IDS),
            parse_ids,
        )
        .unwrap_or_default();
        let telegram_allowed_user_ids = parsed(
            w,
            TELEGRAM_ALLOWED_USER_IDS,
            &value(TELEGRAM_ALLOWED_USER_IDS),
            parse_ids,
        )
        .unwrap_or_default();
        let webhook_require_signature =
            parsed(w, REQUIRE_SIGNATURE, &value(REQUIRE_SIGNATURE), parse_bool).unwrap_or(false);
        let paused_raw = value(ENTRIES_PAUSED);
        // Fail closed, like the kill switch, but for entries only: exits still run.
        let entries_paused = match crate::pause::parse(&paused_raw) {
            Ok(p) => p,
            Err(why) => {
                w.push(ConfigWarning {
                    key: ENTRIES_PAUSED,
                    message: format!("{paused_raw:?} {why}; every entry is paused"),
                });
                crate::pause::unreadable(&why)
            }
        };
        let ttl_raw = value(IDEMPOTENCY_TTL_SECONDS);
        let idempotency_ttl_seconds = match parsed(w, IDEMPOTENCY_TTL_SECONDS, &ttl_raw, |v| {
            v.trim().parse::<u32>().ok()
        }) {
            Some(t) if t < MIN_IDEMPOTENCY_TTL_SECONDS => {
                w.push(ConfigWarning {
                    key: IDEMPOTENCY_TTL_SECONDS,
                    message: format!(
                        "{ttl_raw:?} is below the floor of {MIN_IDEMPOTENCY_TTL_SECONDS} s \
                             (one day); {MIN_IDEMPOTENCY_TTL_SECONDS} used"
                    ),
                });
                MIN_IDEMPOTENCY_TTL_SECONDS
            }
            Some(t) => t,
            None => default_cfg.idempotency_ttl_seconds,
        };
        let max_leverage = checked(w, MAX_LEVERAGE, &value(MAX_LEVERAGE), |v| {
            v.trim()
                .parse::<u8>()
                .ok()
                .filter(|l| (1..=125).contains(l))
                .ok_or_else(|| "is not an integer from 1 to 125".to_owned())
        })
        .unwrap_or(default_cfg.max_leverage);
        let max_quantity =
            checked(w, MAX_QUANTITY, &value(MAX_QUANTITY), parse_max_quantity).unwrap_or_default();
        let price_band_pct = checked(w, PRICE_BAND_PCT, &value(PRICE_BAND_PCT), |v| {
            decimal_of(v.trim())
                .filter(|d| *d > Decimal::ZERO && *d <= Decimal::ONE_HUNDRED)
                .ok_or_else(|| "is not a percentage greater than 0 and at most 100".to_owned())
        })
        .unwrap_or(default_cfg.price_band_pct);
        let fingerprint_window_seconds = checked(
            w,
            FINGERPRINT_WINDOW_SECONDS,
            &value(FINGERPRINT_WINDOW_SECONDS),
            |v| {
                v.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|s| (1..=3600).contains(s))
                    .ok_or_else(|| "is not a number of seconds from 1 to 3600".to_owned())
            },
        )
        .unwrap_or(default_cfg.fingerprint_window_seconds);
        let follow_orders_seconds = checked(
            w,
            FOLLOW_ORDERS_SECONDS,
            &value(FOLLOW_ORDERS_SECONDS),
            |v| {
                v.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|s| (60..=MAX_FOLLOW_ORDERS_SECONDS).contains(s))
                    .ok_or_else(|| {
                        format!(
                            "is not a number of seconds from 60 to {MAX_FOLLOW_ORDERS_SECONDS} (30 days)"
                        )
                    })
            },
        )
        .unwrap_or(default_cfg.follow_orders_seconds);
        (
            Self {
                kill_switch,
                mode,
                default_leverage,
                max_order_notional,
                allowed_symbols,
                routing,
                max_signal_age_seconds,
                exchange_enabled,
                rate_limits,
                retry,
                ip_check_enabled,
                allowed_ips,
                telegram_allowed_chat_ids,
                idempotency_ttl_seconds,
                max_leverage,
                max_quantity,
                price_band_pct,
                fingerprint_window_seconds,
                follow_orders_seconds,
                telegram_allowed_user_ids,
                webhook_require_signature,
                entries_paused,
            },
            warnings,
        )
    }

    /// The configuration of a fresh install.
    pub fn defaults() -> Self {
        let quota = |q: &str| {
            q.parse().unwrap_or(Quota {
                count: 1,
                per_seconds: 1,
            })
        };
        Self {
            kill_switch: false,
            mode: Mode::Paper,
            default_leverage: 1,
            max_order_notional: Decimal::from(1000),
            allowed_symbols: vec![],
            routing: BTreeMap::new(),
            max_signal_age_seconds: 300,
            exchange_enabled: Exchange::ALL.into_iter().map(|e| (e, true)).collect(),
            rate_limits: registry::EXCHANGES
                .iter()
                .filter_map(|e| Some((e.name.parse().ok()?, quota(e.default_quota))))
                .chain([(Exchange::Paper, quota(registry::PAPER_QUOTA))])
                .collect(),
            retry: RetryPolicy::default(),
            ip_check_enabled: false,
            allowed_ips: vec![
                "52.89.214.238".into(),
                "34.212.75.30".into(),
                "54.218.53.128".into(),
                "52.32.178.7".into(),
            ],
            telegram_allowed_chat_ids: vec![],
            idempotency_ttl_seconds: 86_400,
            max_leverage: 20,
            max_quantity: BTreeMap::new(),
            price_band_pct: Decimal::from(5),
            fingerprint_window_seconds: 60,
            follow_orders_seconds: 86_400,
            telegram_allowed_user_ids: vec![],
            webhook_require_signature: false,
            entries_paused: vec![],
        }
    }

    /// A kill switch that cannot be read is on.
    pub fn unreadable() -> Self {
        Self {
            kill_switch: true,
            ..Self::defaults()
        }
    }
}

/// A JSON array of Telegram ids, numbers or numeric strings (`[123, "-456"]`).
fn parse_ids(v: &str) -> Option<Vec<i64>> {
    let raw: Vec<serde_json::Value> = serde_json::from_str(v).ok()?;
    raw.iter()
        .map(|id| match id {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .collect()
}

/// A decimal in plain (`1.5`) or scientific (`1e3`) notation.
fn decimal_of(v: &str) -> Option<Decimal> {
    Decimal::from_str(v)
        .or_else(|_| Decimal::from_scientific(v))
        .ok()
}

/// `trade:max_quantity`: `{"BTCUSDT": "0.5", "ETH/USDT": 10}`. Symbols are canonicalised; two
/// spellings of one symbol keep the smaller cap.
fn parse_max_quantity(v: &str) -> Result<BTreeMap<String, Decimal>, String> {
    let raw: BTreeMap<String, serde_json::Value> = serde_json::from_str(v)
        .map_err(|_| "is not a JSON object of symbol -> quantity".to_owned())?;
    let mut out = BTreeMap::new();
    for (sym, cap) in raw {
        let canonical = crate::symbol::Symbol::parse(&sym)
            .map_err(|e| format!("names symbol {sym:?}, which is invalid ({e})"))?
            .canonical();
        let cap = match &cap {
            serde_json::Value::String(s) => decimal_of(s.trim()),
            serde_json::Value::Number(n) => decimal_of(&n.to_string()),
            _ => None,
        }
        .filter(|d| *d > Decimal::ZERO)
        .ok_or_else(|| format!("gives {sym} the cap {cap}, not a decimal greater than 0"))?
        .normalize();
        let entry = out.entry(canonical).or_insert(cap);
        *entry = (*entry).min(cap);
    }
    Ok(out)
}

/// What a per-isolate config cache does with its entry (see `runtime::config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// Younger than the TTL: use it.
    Fresh,
    /// Expired, but another request is refreshing it and it is at most `max_stale_ms` past
    /// the TTL: use it rather than read KV again (stale-while-revalidate).
    Stale,
    /// Read KV (and become the request that refreshes).
    Refresh,
}

/// The cache policy: one refresh at a time, bounded staleness. A negative age (a clock that
/// went backwards) counts as fresh.
pub fn cache_use(age_ms: i64, ttl_ms: i64, refreshing: bool, max_stale_ms: i64) -> CacheUse {
    if age_ms < ttl_ms {
        CacheUse::Fresh
    } else if refreshing && age_ms < ttl_ms.saturating_add(max_stale_ms) {
        CacheUse::Stale
    } else {
        CacheUse::Refresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_exchanges_are_the_registrys() {
        let live: Vec<Exchange> = Exchange::ALL
            .into_iter()
            .filter(|e| *e != Exchange::Paper)
            .collect();
        assert_eq!(live.len(), registry::EXCHANGES.len());
        for e in live {
            let info =
                registry::exchange(e.as_str()).unwrap_or_else(|| panic!("{e} not registered"));
            assert!(MANIFEST.contains(&(info.enabled_key, "true")), "{e}");
            assert_eq!(
                RuntimeConfig::defaults().rate_limits[&e],
                info.default_quota.parse().unwrap()
            );
        }
        let manifest_quotas = MANIFEST
            .iter()
            .find(|(k, _)| *k == RATELIMIT_ORDERS)
            .unwrap()
            .1;
        assert_eq!(manifest_quotas, registry::default_order_quotas());
    }

    #[test]
    fn cache_refreshes_once_and_bounds_staleness() {
        assert_eq!(cache_use(1_999, 2_000, false, 10_000), CacheUse::Fresh);
        assert_eq!(cache_use(-5, 2_000, false, 10_000), CacheUse::Fresh);
        // At expiry the first request refreshes; the ones behind it keep the old value...
        assert_eq!(cache_use(2_000, 2_000, false, 10_000), CacheUse::Refresh);
        assert_eq!(cache_use(2_000, 2_000, true, 10_000), CacheUse::Stale);
        // ...but not forever: a refresh that hangs stops being waited out.
        assert_eq!(cache_use(11_999, 2_000, true, 10_000), CacheUse::Stale);
        assert_eq!(cache_use(12_000, 2_000, true, 10_000), CacheUse::Refresh);
        assert_eq!(cache_use(i64::MAX, i64::MAX, true, 1), CacheUse::Refresh);
    }

    fn read(pairs: &[(&str, &str)]) -> (RuntimeConfig, Vec<ConfigWarning>) {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RuntimeConfig::read(|k| map.get(k).cloned())
    }

    #[test]
    fn manifest_defaults_read_as_defaults() {
        let (cfg, warnings) = read(&[]);
        assert_eq!(warnings, vec![]);
        assert_eq!(cfg, RuntimeConfig::defaults());
        let (cfg, warnings) = read(&MANIFEST);
        assert_eq!(warnings, vec![]);
        assert_eq!(cfg, RuntimeConfig::defaults());
    }

    #[test]
    fn kill_switch_fails_closed() {
        assert!(read(&[(KILL_SWITCH, "on")]).0.kill_switch);
        assert!(read(&[(KILL_SWITCH, "YES")]).0.kill_switch);
        assert!(!read(&[(KILL_SWITCH, "off")]).0.kill_switch);
        let (cfg, warnings) = read(&[(KILL_SWITCH, "maybe")]);
        assert!(cfg.kill_switch);
        assert_eq!(warnings[0].key, KILL_SWITCH);
        assert!(RuntimeConfig::unreadable().kill_switch);
    }

    #[test]
    fn typed_values_and_bad_values() {
        let (cfg, warnings) = read(&[
            (MODE, "LIVE"),
            (ROUTING, r#"{"btc/usdt":"bybit"}"#),
            (ALLOWED_SYMBOLS, r#"["ETH-USDT"]"#),
            (RATELIMIT_ORDERS, r#"{"bybit":"600/m"}"#),
            (TELEGRAM_ALLOWED_CHAT_IDS, r#"[123, "-456"]"#),
            (DEFAULT_LEVERAGE, "500"),
        ]);
        assert_eq!(cfg.mode, Mode::Live);
        assert_eq!(cfg.routing.get("BTCUSDT"), Some(&Exchange::Bybit));
        assert_eq!(cfg.allowed_symbols, vec!["ETHUSDT".to_string()]);
        assert_eq!(
            cfg.rate_limits[&Exchange::Bybit],
            Quota {
                count: 600,
                per_seconds: 60
            }
        );
        assert_eq!(
            cfg.rate_limits[&Exchange::Paper],
            Quota {
                count: 100,
                per_seconds: 1
            }
        );
        assert_eq!(cfg.telegram_allowed_chat_ids, vec![123, -456]);
        assert_eq!(cfg.default_leverage, 1);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].key, DEFAULT_LEVERAGE);
    }

    #[test]
    fn the_manifest_stays_sixteen_keys_and_extras_live_beside_it() {
        assert_eq!(MANIFEST.len(), 16);
        assert_eq!(known_keys().count(), 16 + EXTRA_KEYS.len());
        let mut all: Vec<_> = known_keys().map(|(k, _)| k).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 16 + EXTRA_KEYS.len(), "a key is listed twice");
        for (key, default) in EXTRA_KEYS {
            assert!(!is_manifest_key(key), "{key}");
            assert!(is_known_key(key), "{key}");
            assert_eq!(default_of(key), Some(default));
        }
        // Applying the manifest never writes the extras.
        assert!(missing_keys(|_| false).all(|(k, _)| is_manifest_key(k)));
        // Their defaults read as the defaults, without a warning.
        let (cfg, warnings) = read(&EXTRA_KEYS);
        assert_eq!(warnings, vec![]);
        assert_eq!(cfg, RuntimeConfig::defaults());
        let d = RuntimeConfig::defaults();
        assert_eq!(
            (
                d.max_leverage,
                d.price_band_pct,
                d.fingerprint_window_seconds
            ),
            (20, Decimal::from(5), 60)
        );
        assert!(d.max_quantity.is_empty());
    }

    #[test]
    fn the_edge_keys_are_typed_and_validated_on_write() {
        let (cfg, warnings) = read(&[
            (TELEGRAM_ALLOWED_USER_IDS, r#"[55, "-7"]"#),
            (REQUIRE_SIGNATURE, "true"),
        ]);
        assert_eq!(warnings, vec![]);
        assert_eq!(cfg.telegram_allowed_user_ids, vec![55, -7]);
        assert!(cfg.webhook_require_signature);
        let d = RuntimeConfig::defaults();
        assert!(d.telegram_allowed_user_ids.is_empty() && !d.webhook_require_signature);
        assert_eq!(
            validate_write(TELEGRAM_ALLOWED_USER_IDS, "[1,2]"),
            Ok(TELEGRAM_ALLOWED_USER_IDS)
        );
        assert_eq!(
            validate_write(REQUIRE_SIGNATURE, "on"),
            Ok(REQUIRE_SIGNATURE)
        );
        for bad in ["55", r#"["op"]"#, "[1.5]", "{}"] {
            assert!(
                matches!(
                    validate_write(TELEGRAM_ALLOWED_USER_IDS, bad),
                    Err(ConfigWriteError::Invalid { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            validate_write(REQUIRE_SIGNATURE, "sometimes"),
            Err(ConfigWriteError::Invalid { .. })
        ));
    }

    #[test]
    fn keys_beside_the_manifest_are_typed() {
        let (cfg, warnings) = read(&[
            (MAX_LEVERAGE, "50"),
            (
                MAX_QUANTITY,
                r#"{"BTC/USDT":"0.5","ETHUSDT":10,"BINANCE:BTCUSDT.P":"0.25"}"#,
            ),
            (PRICE_BAND_PCT, "2.5"),
            (FINGERPRINT_WINDOW_SECONDS, "3600"),
            (FOLLOW_ORDERS_SECONDS, "600"),
        ]);
        assert_eq!(warnings, vec![]);
        assert_eq!(cfg.follow_orders_seconds, 600);
        assert_eq!(cfg.max_leverage, 50);
        // Two spellings of one symbol: the smaller cap.
        assert_eq!(cfg.max_quantity.get("BTCUSDT"), Some(&Decimal::new(25, 2)));
        assert_eq!(cfg.max_quantity.get("ETHUSDT"), Some(&Decimal::from(10)));
        assert_eq!(cfg.price_band_pct, Decimal::new(25, 1));
        assert_eq!(cfg.fingerprint_window_seconds, 3600);
        for (key, bad) in [
            (MAX_LEVERAGE, "0"),
            (MAX_LEVERAGE, "126"),
            (MAX_LEVERAGE, "ten"),
            (MAX_QUANTITY, "[]"),
            (MAX_QUANTITY, r#"{"BTCUSDT":"0"}"#),
            (MAX_QUANTITY, r#"{"BTCUSDT":"-1"}"#),
            (MAX_QUANTITY, r#"{"BTCUSDT":true}"#),
            (MAX_QUANTITY, r#"{"!!":"1"}"#),
            (PRICE_BAND_PCT, "0"),
            (PRICE_BAND_PCT, "100.1"),
            (PRICE_BAND_PCT, "-5"),
            (PRICE_BAND_PCT, "five"),
            (FINGERPRINT_WINDOW_SECONDS, "0"),
            (FINGERPRINT_WINDOW_SECONDS, "3601"),
            (FOLLOW_ORDERS_SECONDS, "59"),
            (FOLLOW_ORDERS_SECONDS, "2592001"),
            (FOLLOW_ORDERS_SECONDS, "a day"),
        ] {
            let (cfg, warnings) = read(&[(key, bad)]);
            assert_eq!(warnings.len(), 1, "{key}={bad}");
            assert_eq!(warnings[0].key, key);
            assert!(
                warnings[0].message.ends_with("default used"),
                "{:?}",
                warnings[0]
            );
            assert_eq!(cfg, RuntimeConfig::defaults(), "{key}={bad}");
        }
    }

    #[test]
    fn idempotency_ttl_has_a_floor_of_one_day() {
        let (cfg, warnings) = read(&[(IDEMPOTENCY_TTL_SECONDS, "3600")]);
        assert_eq!(cfg.idempotency_ttl_seconds, 86_400);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].key, IDEMPOTENCY_TTL_SECONDS);
        assert!(
            warnings[0].message.contains("below the floor of 86400"),
            "{:?}",
            warnings[0]
        );
        let (cfg, warnings) = read(&[(IDEMPOTENCY_TTL_SECONDS, "172800")]);
        assert_eq!((cfg.idempotency_ttl_seconds, warnings), (172_800, vec![]));
        let (cfg, warnings) = read(&[(IDEMPOTENCY_TTL_SECONDS, "soon")]);
        assert_eq!((cfg.idempotency_ttl_seconds, warnings.len()), (86_400, 1));
    }

    #[test]
    fn writes_are_validated() {
        assert_eq!(validate_write(KILL_SWITCH, "true"), Ok(KILL_SWITCH));
        assert_eq!(validate_write(MAX_LEVERAGE, " 10 "), Ok(MAX_LEVERAGE));
        assert_eq!(
            validate_write(MAX_QUANTITY, r#"{"BTCUSDT":"1"}"#),
            Ok(MAX_QUANTITY)
        );
        assert_eq!(
            validate_write("trade:yolo", "1"),
            Err(ConfigWriteError::UnknownKey("trade:yolo".into()))
        );
        for (key, bad) in [
            (KILL_SWITCH, "maybe"),
            (MAX_LEVERAGE, "200"),
            (PRICE_BAND_PCT, "0"),
            (FINGERPRINT_WINDOW_SECONDS, "86400"),
            (IDEMPOTENCY_TTL_SECONDS, "3600"),
            (
                RETRY_POLICY,
                r#"{"initial_seconds":2,"multiplier":2,"max_delay_seconds":86400,"jitter":0.2}"#,
            ),
        ] {
            match validate_write(key, bad) {
                Err(ConfigWriteError::Invalid { key: k, message }) => {
                    assert_eq!(k, key);
                    assert!(!message.is_empty());
                }
                other => panic!("{key}={bad}: {other:?}"),
            }
        }
        let e = validate_write(
            RETRY_POLICY,
            r#"{"initial_seconds":2,"multiplier":2,"max_delay_seconds":86400,"jitter":0.2}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("43200"), "{e}");
    }

    #[test]
    fn applying_writes_only_missing_keys() {
        let present = [KILL_SWITCH, MODE];
        let missing: Vec<_> = missing_keys(|k| present.contains(&k))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(missing.len(), 14);
        assert!(!missing.contains(&KILL_SWITCH));
    }

    #[test]
    fn quotas_parse() {
        assert_eq!(
            "10/s".parse(),
            Ok(Quota {
                count: 10,
                per_seconds: 1
            })
        );
        assert_eq!(
            "5/2s".parse(),
            Ok(Quota {
                count: 5,
                per_seconds: 2
            })
        );
        assert!("0/s".parse::<Quota>().is_err());
        assert!("10/fortnight".parse::<Quota>().is_err());
        // 4294967295 hours do not fit a u32 of seconds: refused, not an overflow.
        assert!("5/4294967295h".parse::<Quota>().is_err());
        assert!("5/71582789m".parse::<Quota>().is_err());
    }
}

impl RetryPolicy {
    /// Finite, `0 < initial_seconds ≤ max_delay_seconds ≤ MAX_RETRY_DELAY_SECONDS`,
    /// `multiplier ≥ 1`, `0 ≤ jitter ≤ 1`. Only such a policy is read from `retry:policy`.
    pub fn is_valid(&self) -> bool {
        let cap = f64::from(MAX_RETRY_DELAY_SECONDS);
        self.initial_seconds > 0.0
            && self.initial_seconds <= self.max_delay_seconds
            && self.max_delay_seconds <= cap
            && self.multiplier >= 1.0
            && self.multiplier.is_finite()
            && (0.0..=1.0).contains(&self.jitter)
    }

    /// This policy if it [`is_valid`](Self::is_valid), else the default. The fields are public,
    /// so a policy built in code is held to the same rule as one read from KV.
    fn effective(&self) -> Self {
        if self.is_valid() {
            *self
        } else {
            Self::default()
        }
    }

    /// The policy as `backoff`'s exponential schedule (without jitter: [`Self::delay_seconds`]
    /// applies it from a caller-supplied draw, so the schedule stays deterministic and testable).
    /// An invalid policy gives the default's schedule: its durations might not even be
    /// representable (`Duration::from_secs_f64` panics on 1e300 or a negative).
    pub fn schedule(&self) -> backoff::ExponentialBackoff {
        let p = self.effective();
        let mut b = backoff::ExponentialBackoffBuilder::new()
            .with_initial_interval(std::time::Duration::from_secs_f64(p.initial_seconds))
            .with_multiplier(p.multiplier)
            .with_randomization_factor(0.0)
            .with_max_interval(std::time::Duration::from_secs_f64(p.max_delay_seconds))
            .with_max_elapsed_time(None)
            .build();
        backoff::backoff::Backoff::reset(&mut b);
        b
    }

    /// Delay before retry number `attempt` (1 = the first retry): `initial × multiplier^(n-1)`,
    /// capped at `max_delay_seconds`, then spread by ±`jitter` using `unit` (a uniform draw from
    /// [0, 1)). Always within `1..=MAX_RETRY_DELAY_SECONDS`, for any policy (an invalid one
    /// counts as the default), attempt and draw. A `Retry-After` from the exchange wins when it
    /// is larger (the caller's job: clamp it with [`clamp_retry_delay`] too).
    pub fn delay_seconds(&self, attempt: u32, unit: f64) -> u32 {
        let p = self.effective();
        let mut schedule = p.schedule();
        let mut base = p.initial_seconds;
        for _ in 0..attempt.clamp(1, 64) {
            match backoff::backoff::Backoff::next_backoff(&mut schedule) {
                Some(d) => base = d.as_secs_f64(),
                None => break,
            }
        }
        // NaN (a NaN draw) clamps to nothing: count it as the middle of the spread.
        let unit = if unit.is_nan() {
            0.5
        } else {
            unit.clamp(0.0, 1.0)
        };
        let spread = 1.0 + p.jitter * (2.0 * unit - 1.0);
        let seconds = (base * spread).min(p.max_delay_seconds).round().max(1.0);
        clamp_retry_delay(seconds as u64)
    }
}

/// A retry delay the queue accepts: `1..=MAX_RETRY_DELAY_SECONDS`. For delays from elsewhere
/// (an exchange's `Retry-After`, a rate-limit wait) before they reach `message.retry`.
pub fn clamp_retry_delay(seconds: u64) -> u32 {
    // The clamp makes the conversion lossless.
    seconds.clamp(1, u64::from(MAX_RETRY_DELAY_SECONDS)) as u32
}

#[cfg(test)]
mod retry_tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exponential_and_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_seconds(1, 0.5), 2);
        assert_eq!(p.delay_seconds(2, 0.5), 4);
        assert_eq!(p.delay_seconds(5, 0.5), 32);
        assert_eq!(p.delay_seconds(30, 0.5), 900);
    }

    #[test]
    fn extreme_policies_are_refused_and_never_panic() {
        // The first three read without a warning before, and the first two made `delay_seconds`
        // panic (`Duration::from_secs_f64` of 1e300) in the consumer; the third asked the queue
        // for a delay over its cap.
        for raw in [
            r#"{"initial_seconds":2,"multiplier":2,"max_delay_seconds":1e300,"jitter":0.2}"#,
            r#"{"initial_seconds":1e300,"multiplier":2,"max_delay_seconds":1e300,"jitter":0.2}"#,
            r#"{"initial_seconds":2,"multiplier":2,"max_delay_seconds":86400,"jitter":0.2}"#,
            r#"{"initial_seconds":-1,"multiplier":2,"max_delay_seconds":900,"jitter":0.2}"#,
            r#"{"initial_seconds":2,"multiplier":0.5,"max_delay_seconds":900,"jitter":0.2}"#,
        ] {
            let (cfg, warnings) =
                RuntimeConfig::read(|k| (k == RETRY_POLICY).then(|| raw.to_owned()));
            assert_eq!(warnings.len(), 1, "{raw}");
            assert_eq!(warnings[0].key, RETRY_POLICY);
            assert_eq!(cfg.retry, RetryPolicy::default(), "{raw}");
        }
        let huge = RetryPolicy {
            max_delay_seconds: 1e300,
            ..RetryPolicy::default()
        };
        assert!(huge.delay_seconds(1, 0.5) <= MAX_RETRY_DELAY_SECONDS);
        let long = RetryPolicy {
            max_delay_seconds: 100_000.0,
            ..RetryPolicy::default()
        };
        assert!(long.delay_seconds(30, 0.5) <= MAX_RETRY_DELAY_SECONDS);
        // The cap itself is accepted.
        let raw = r#"{"initial_seconds":60,"multiplier":3,"max_delay_seconds":43200,"jitter":0}"#;
        let (cfg, warnings) = RuntimeConfig::read(|k| (k == RETRY_POLICY).then(|| raw.to_owned()));
        assert_eq!(warnings, vec![]);
        assert_eq!(cfg.retry.delay_seconds(u32::MAX, 0.99), 43_200);
    }

    proptest! {
        #[test]
        fn within_jitter_and_cap(attempt in 1u32..100, unit in 0.0f64..1.0) {
            let p = RetryPolicy::default();
            let d = f64::from(p.delay_seconds(attempt, unit));
            let base = (2.0 * 2f64.powi(attempt as i32 - 1)).min(900.0);
            prop_assert!(d <= 900.0);
            prop_assert!(d >= (base * 0.8).floor().max(1.0) && d <= (base * 1.2).ceil());
        }

        /// Whatever a policy holds (NaN, infinities, negatives, zero, 1e308) and whatever the
        /// attempt number, the delay is a whole number of seconds within the queue's cap.
        #[test]
        fn any_policy_any_attempt_stays_within_the_cap(
            initial_seconds in any::<f64>(),
            multiplier in any::<f64>(),
            max_delay_seconds in any::<f64>(),
            jitter in any::<f64>(),
            attempt in any::<u32>(),
            unit in any::<f64>(),
        ) {
            let p = RetryPolicy { initial_seconds, multiplier, max_delay_seconds, jitter };
            let d = p.delay_seconds(attempt, unit);
            prop_assert!((1..=MAX_RETRY_DELAY_SECONDS).contains(&d), "{d}");
        }

        /// Valid policies near the edges: the same bound.
        #[test]
        fn valid_policies_stay_within_the_cap(
            initial_seconds in 0.001f64..43_200.0,
            multiplier in 1.0f64..1e6,
            max_delay_seconds in 0.001f64..1e9,
            jitter in 0.0f64..=1.0,
            attempt in any::<u32>(),
            unit in 0.0f64..1.0,
        ) {
            let p = RetryPolicy { initial_seconds, multiplier, max_delay_seconds, jitter };
            let d = p.delay_seconds(attempt, unit);
            prop_assert!((1..=MAX_RETRY_DELAY_SECONDS).contains(&d), "{d}");
        }
    }
}
