//! Every runtime config key the dashboard edits, with the input it takes and what it means. The
//! values are checked where every write is (`runtime::config::set`: `contracts::config` and
//! `risk::rules`); the kinds here only choose the form control. A test holds this table to the
//! keys the system reads, so a new key cannot appear without its explanation.

/// The form control of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Choice(&'static [&'static str]),
    Integer,
    Decimal,
    /// A JSON value (array, object, or `null` to turn a rule off).
    Json,
}

/// One editable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    pub key: &'static str,
    pub kind: Kind,
    pub meaning: &'static str,
}

const fn doc(key: &'static str, kind: Kind, meaning: &'static str) -> KeyDoc {
    KeyDoc { key, kind, meaning }
}

use contracts::config as c;
use risk::rules as r;

/// The keys in the order the config page shows them: the manifest, the typed keys beside it,
/// then the risk manager's rules.
pub const KEYS: [KeyDoc; 36] = [
    doc(c::KILL_SWITCH, Kind::Bool, "Halts every order submission at once (fail-closed: an unreadable config counts as on). Use the kill switch panel to set it with a reason."),
    doc(c::MODE, Kind::Choice(&["paper", "live"]), "paper simulates fills inside hoox; live sends signed orders to the exchanges. A fresh install trades no real money until this is live."),
    doc(c::DEFAULT_LEVERAGE, Kind::Integer, "The leverage of a signal that names none."),
    doc(c::MAX_ORDER_NOTIONAL, Kind::Decimal, "Orders whose quantity × the exchange's reference price is above this (USDT) are rejected before they are sent."),
    doc(c::ALLOWED_SYMBOLS, Kind::Json, "JSON array of symbols that may trade; empty means all."),
    doc(c::ROUTING, Kind::Json, "JSON object symbol → exchange: overrides the exchange a signal names."),
    doc(c::MAX_SIGNAL_AGE_SECONDS, Kind::Integer, "Signals older than this (by their timestamp) are dead-lettered as stale instead of traded."),
    doc(c::BYBIT_ENABLED, Kind::Bool, "Whether signals for Bybit are executed."),
    doc(c::BINANCE_ENABLED, Kind::Bool, "Whether signals for Binance are executed."),
    doc(c::MEXC_ENABLED, Kind::Bool, "Whether signals for MEXC are executed."),
    doc(c::RATELIMIT_ORDERS, Kind::Json, "Order quotas per exchange (\"10/s\"); an order over quota waits and retries, nothing is claimed."),
    doc(c::RETRY_POLICY, Kind::Json, "Backoff of failed attempts: initial_seconds, multiplier, max_delay_seconds, jitter."),
    doc(c::IP_CHECK_ENABLED, Kind::Bool, "Whether the webhook accepts only the addresses in webhook:allowed_ips."),
    doc(c::ALLOWED_IPS, Kind::Json, "JSON array of sender addresses the webhook accepts when the check is on (TradingView's by default)."),
    doc(c::TELEGRAM_ALLOWED_CHAT_IDS, Kind::Json, "JSON array of Telegram chat ids that receive alerts and may command the bot."),
    doc(c::IDEMPOTENCY_TTL_SECONDS, Kind::Integer, "How long a signal's idempotency key is remembered (at least a day): a repeat within it replays the first answer."),
    doc(c::MAX_LEVERAGE, Kind::Integer, "Signals asking for more leverage are rejected."),
    doc(c::MAX_QUANTITY, Kind::Json, "JSON object symbol → largest quantity (base units) one order may have."),
    doc(c::PRICE_BAND_PCT, Kind::Decimal, "A limit price further than this percentage from the reference price is refused."),
    doc(c::FINGERPRINT_WINDOW_SECONDS, Kind::Integer, "For signals without an idempotency key: identical signals within this window are one."),
    doc(c::DLQ_STUCK_AFTER_SECONDS, Kind::Integer, "A signal unfinished after this long is recorded as a dead letter by the sweep."),
    doc(c::FOLLOW_ORDERS_SECONDS, Kind::Integer, "How long an order that is not final is followed at the exchange."),
    doc(c::TELEGRAM_ALLOWED_USER_IDS, Kind::Json, "JSON array of Telegram user ids allowed to use /kill_on and /kill_off."),
    doc(c::REQUIRE_SIGNATURE, Kind::Bool, "Whether the webhook accepts only Standard Webhooks signatures (no apiKey or Bearer)."),
    doc(c::ENTRIES_PAUSED, Kind::Json, "Entry pauses in force (opening signals they cover are dead-lettered; closes still run). Set by the risk manager; resume on the agent page."),
    doc(contracts::email::AUTHORIZED_SENDERS, Kind::Json, "JSON array of the addresses (alerts@example.com) or domains (@example.com) whose mail may place orders; empty refuses every mail (fail-closed)."),
    doc(contracts::email::TRUSTED_AUTHSERV_IDS, Kind::Json, "JSON array of the mail hosts whose Authentication-Results (DKIM/DMARC) the email-worker believes; mx.cloudflare.net for Email Routing."),
    doc(r::STOP_LOSS_PCT, Kind::Json, "Number, 0 < x < 100: close a position when its loss reaches x % of the entry price. Per symbol as risk:stop_loss_pct:<SYMBOL> (null turns it off there)."),
    doc(r::TRAILING, Kind::Json, "{\"distance_pct\": d, \"activation_pct\": a}: trail the stop d % behind the best price, once the profit has reached a % (absent: from the entry)."),
    doc(r::TAKE_PROFIT_LADDER, Kind::Json, "{\"targets\": [{\"profit_pct\": p, \"share_pct\": s}, …], \"breakeven_after_first\": bool}: close s % of the position at each profit p %, optionally moving the stop to the entry after the first."),
    doc(r::ROI_TABLE, Kind::Json, "[{\"after_minutes\": t, \"profit_pct\": p}, …]: after t minutes open, close once the profit is at least p % (the entry with the largest t not above the age applies)."),
    doc(r::COOLDOWN_MINUTES, Kind::Json, "Integer 1–10080: after an exit on a pair, entries on it wait this many minutes."),
    doc(r::MAX_DAILY_LOSS_PCT, Kind::Json, "Number 0 < x ≤ 100: equity x % below the start-of-day snapshot pauses entries on that network until the next UTC day."),
    doc(r::MAX_DRAWDOWN_PCT, Kind::Json, "Number 0 < x ≤ 100: equity x % below its peak pauses entries on that network until an operator resumes."),
    doc(r::STOPLOSS_GUARD, Kind::Json, "{\"stop_outs\": n, \"window_minutes\": w, \"pause_minutes\": p}: n stop-outs within w minutes pause entries for p minutes after the last."),
    doc(r::FLATTEN_ON_BREACH, Kind::Bool, "Whether a daily-loss or drawdown breach also closes every open position on its network."),
];

/// The explanation of `key` (a per-symbol rule `risk:<rule>:<SYMBOL>` by its rule's).
pub fn doc_of(key: &str) -> Option<&'static KeyDoc> {
    KEYS.iter().find(|d| d.key == key).or_else(|| {
        let (rule, _) = key.rsplit_once(':')?;
        KEYS.iter()
            .find(|d| d.key == rule && r::PER_SYMBOL_KEYS.contains(&d.key))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_the_system_reads_is_explained_once() {
        let mut expected: Vec<&str> = c::known_keys().map(|(k, _)| k).collect();
        expected.extend(r::KEYS);
        let have: Vec<&str> = KEYS.iter().map(|d| d.key).collect();
        for k in &expected {
            assert_eq!(have.iter().filter(|h| *h == k).count(), 1, "{k}");
        }
        assert_eq!(
            have.len(),
            expected.len(),
            "a key here the system does not read"
        );
        assert!(KEYS.iter().all(|d| d.meaning.len() > 20));
    }

    #[test]
    fn a_per_symbol_rule_has_its_rules_explanation() {
        assert_eq!(
            doc_of("risk:stop_loss_pct:BTCUSDT").map(|d| d.key),
            Some(r::STOP_LOSS_PCT)
        );
        assert_eq!(doc_of("risk:max_drawdown_pct:BTCUSDT"), None);
        assert_eq!(doc_of("nope"), None);
    }
}
