//! The CONFIG_KV runtime manifest: sixteen keys, their defaults, and their typed reading.
//!
//! Values are plain strings in KV. Reading is forgiving (a bad value falls back to its default and
//! is reported) except for the kill switch, which fails closed: anything unreadable means "on".
//! Applying the manifest writes only missing keys, so it never resets an operator's choice.

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
pub const BYBIT_ENABLED: &str = "exchange:bybit:enabled";
pub const BINANCE_ENABLED: &str = "exchange:binance:enabled";
pub const MEXC_ENABLED: &str = "exchange:mexc:enabled";
pub const RATELIMIT_ORDERS: &str = "ratelimit:orders";
pub const RETRY_POLICY: &str = "retry:policy";
pub const IP_CHECK_ENABLED: &str = "webhook:ip_check_enabled";
pub const ALLOWED_IPS: &str = "webhook:allowed_ips";
pub const TELEGRAM_ALLOWED_CHAT_IDS: &str = "telegram:allowed_chat_ids";
pub const IDEMPOTENCY_TTL_SECONDS: &str = "idempotency:ttl_seconds";

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

pub fn is_manifest_key(key: &str) -> bool {
    MANIFEST.iter().any(|(k, _)| *k == key)
}

pub fn default_of(key: &str) -> Option<&'static str> {
    MANIFEST.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
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
            per_seconds: n * unit,
        })
    }
}

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
    pub idempotency_ttl_seconds: u32,
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
        for (ex, key) in [
            (Exchange::Bybit, BYBIT_ENABLED),
            (Exchange::Binance, BINANCE_ENABLED),
            (Exchange::Mexc, MEXC_ENABLED),
        ] {
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
        let retry = parsed(w, RETRY_POLICY, &value(RETRY_POLICY), |v| {
            serde_json::from_str::<RetryPolicy>(v).ok().filter(|p| {
                p.initial_seconds > 0.0
                    && p.multiplier >= 1.0
                    && p.max_delay_seconds >= p.initial_seconds
                    && (0.0..=1.0).contains(&p.jitter)
            })
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
            |v| {
                let raw: Vec<serde_json::Value> = serde_json::from_str(v).ok()?;
                raw.iter()
                    .map(|id| match id {
                        serde_json::Value::Number(n) => n.as_i64(),
                        serde_json::Value::String(s) => s.trim().parse().ok(),
                        _ => None,
                    })
                    .collect()
            },
        )
        .unwrap_or_default();
        let idempotency_ttl_seconds = parsed(
            w,
            IDEMPOTENCY_TTL_SECONDS,
            &value(IDEMPOTENCY_TTL_SECONDS),
            |v| v.trim().parse::<u32>().ok().filter(|t| *t >= 60),
        )
        .unwrap_or(default_cfg.idempotency_ttl_seconds);
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
            },
            warnings,
        )
    }

    /// The configuration of a fresh install.
    pub fn defaults() -> Self {
        let q = |count, per_seconds| Quota { count, per_seconds };
        Self {
            kill_switch: false,
            mode: Mode::Paper,
            default_leverage: 1,
            max_order_notional: Decimal::from(1000),
            allowed_symbols: vec![],
            routing: BTreeMap::new(),
            max_signal_age_seconds: 300,
            exchange_enabled: Exchange::ALL.into_iter().map(|e| (e, true)).collect(),
            rate_limits: [
                (Exchange::Bybit, q(10, 1)),
                (Exchange::Binance, q(5, 1)),
                (Exchange::Mexc, q(5, 1)),
                (Exchange::Paper, q(100, 1)),
            ]
            .into_iter()
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
    }
}

impl RetryPolicy {
    /// The policy as `backoff`'s exponential schedule (without jitter: [`Self::delay_seconds`]
    /// applies it from a caller-supplied draw, so the schedule stays deterministic and testable).
    pub fn schedule(&self) -> backoff::ExponentialBackoff {
        let mut b = backoff::ExponentialBackoffBuilder::new()
            .with_initial_interval(std::time::Duration::from_secs_f64(self.initial_seconds))
            .with_multiplier(self.multiplier)
            .with_randomization_factor(0.0)
            .with_max_interval(std::time::Duration::from_secs_f64(self.max_delay_seconds))
            .with_max_elapsed_time(None)
            .build();
        backoff::backoff::Backoff::reset(&mut b);
        b
    }

    /// Delay before retry number `attempt` (1 = the first retry): `initial × multiplier^(n-1)`,
    /// capped at `max_delay_seconds`, then spread by ±`jitter` using `unit` (a uniform draw from
    /// [0, 1)). A `Retry-After` from the exchange wins when it is larger (the caller's job).
    pub fn delay_seconds(&self, attempt: u32, unit: f64) -> u32 {
        let mut schedule = self.schedule();
        let mut base = self.initial_seconds;
        for _ in 0..attempt.clamp(1, 64) {
            match backoff::backoff::Backoff::next_backoff(&mut schedule) {
                Some(d) => base = d.as_secs_f64(),
                None => break,
            }
        }
        let spread = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        (base * spread).min(self.max_delay_seconds).round().max(1.0) as u32
    }
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

    proptest! {
        #[test]
        fn within_jitter_and_cap(attempt in 1u32..100, unit in 0.0f64..1.0) {
            let p = RetryPolicy::default();
            let d = f64::from(p.delay_seconds(attempt, unit));
            let base = (2.0 * 2f64.powi(attempt as i32 - 1)).min(900.0);
            prop_assert!(d <= 900.0);
            prop_assert!(d >= (base * 0.8).floor().max(1.0) && d <= (base * 1.2).ceil());
        }
    }
}
