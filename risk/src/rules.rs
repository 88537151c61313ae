//! The `risk:*` rules: typed, bounded, each global or per symbol, read from CONFIG_KV's JSON values.
//!
//! Every threshold is a positive percentage with one meaning: a loss threshold of 5 means a 5 %
//! loss, a profit threshold of 5 a 5 % profit, so no sign can invert a rule. [`validate`] checks a
//! key and its value against the bounds below and is what the config API calls before every
//! write; [`RuleSet::load`] reads what is stored and reports (never guesses) what it cannot read.
//!
//! | key | value | bounds |
//! |---|---|---|
//! | `risk:stop_loss_pct` | number | 0 < x < 100: close when the loss reaches x % of the entry price |
//! | `risk:trailing` | `{"distance_pct": d, "activation_pct": a}` | 0 < d < 100; `activation_pct` optional, 0 < a ≤ 1000: trail only once the profit has reached a % (absent: from the entry) |
//! | `risk:take_profit_ladder` | `{"targets": [{"profit_pct": p, "share_pct": s}, ...], "breakeven_after_first": bool}` | 1–10 targets, 0 < p ≤ 1000 strictly increasing, 0 < s ≤ 100, Σs ≤ 100; `breakeven_after_first` optional (false) |
//! | `risk:roi_table` | `[{"after_minutes": t, "profit_pct": p}, ...]` | 1–20 entries, 0 ≤ t ≤ 525600 strictly increasing, 0 < p ≤ 1000: after t minutes open, close once the profit is at least p % (the entry with the largest t not above the age applies) |
//! | `risk:cooldown_minutes` | integer | 1–10080: after an exit on a pair, entries on it wait this long |
//! | `risk:max_daily_loss_pct` | number | 0 < x ≤ 100: equity x % below the start-of-day snapshot pauses entries until the next UTC day |
//! | `risk:max_drawdown_pct` | number | 0 < x ≤ 100: equity x % below its peak pauses entries until an operator resumes |
//! | `risk:stoploss_guard` | `{"stop_outs": n, "window_minutes": w, "pause_minutes": p}` | n 1–100, w and p 1–10080: n stop-outs within w minutes pause entries for p minutes after the last |
//! | `risk:flatten_on_breach` | bool | a daily-loss or drawdown breach also closes every position of that network |
//!
//! **Per-symbol overrides.** The five position rules (stop-loss, trailing, ladder, ROI table,
//! cooldown) may be set for one symbol under the key with the canonical symbol appended:
//! `risk:stop_loss_pct:BTCUSDT`. An override replaces the global value of that rule for that
//! symbol, whole (a ladder is not merged target by target); the value `null` turns the rule off for
//! that symbol. The account protections act on a network's equity and have no per-symbol form.
//! Numbers may be written as JSON numbers or strings (`5`, `"5.5"`); unknown fields are refused.

use contracts::symbol::{Symbol, SymbolError};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub const STOP_LOSS_PCT: &str = "risk:stop_loss_pct";
pub const TRAILING: &str = "risk:trailing";
pub const TAKE_PROFIT_LADDER: &str = "risk:take_profit_ladder";
pub const ROI_TABLE: &str = "risk:roi_table";
pub const COOLDOWN_MINUTES: &str = "risk:cooldown_minutes";
pub const MAX_DAILY_LOSS_PCT: &str = "risk:max_daily_loss_pct";
pub const MAX_DRAWDOWN_PCT: &str = "risk:max_drawdown_pct";
pub const STOPLOSS_GUARD: &str = "risk:stoploss_guard";
pub const FLATTEN_ON_BREACH: &str = "risk:flatten_on_breach";

/// Every rule key, global form.
pub const KEYS: [&str; 9] = [
    STOP_LOSS_PCT,
    TRAILING,
    TAKE_PROFIT_LADDER,
    ROI_TABLE,
    COOLDOWN_MINUTES,
    MAX_DAILY_LOSS_PCT,
    MAX_DRAWDOWN_PCT,
    STOPLOSS_GUARD,
    FLATTEN_ON_BREACH,
];

/// The keys that take a per-symbol override (`<key>:<SYMBOL>`).
pub const PER_SYMBOL_KEYS: [&str; 5] = [
    STOP_LOSS_PCT,
    TRAILING,
    TAKE_PROFIT_LADDER,
    ROI_TABLE,
    COOLDOWN_MINUTES,
];

const MAX_LADDER_TARGETS: usize = 10;
const MAX_ROI_ENTRIES: usize = 20;
const MAX_ROI_MINUTES: u32 = 525_600;
/// A week: the longest cooldown, StoplossGuard window or pause.
const MAX_MINUTES: u32 = 10_080;

/// A strictly positive percentage inside the bound of the rule it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Pct(Decimal);

impl Pct {
    pub fn get(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Pct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} %", self.0.normalize())
    }
}

/// A whole number of minutes inside the bound of its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Minutes(u32);

impl Minutes {
    pub fn get(self) -> u32 {
        self.0
    }

    pub fn as_ms(self) -> u64 {
        u64::from(self.0) * 60_000
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Trailing {
    /// How far behind the watermark the stop follows.
    pub distance_pct: Pct,
    /// The profit at which trailing starts; `None`: from the entry.
    pub activation_pct: Option<Pct>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Target {
    pub profit_pct: Pct,
    /// Share of the position as it was opened.
    pub share_pct: Pct,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ladder {
    /// Profit strictly increasing; shares summing to at most 100 %.
    pub targets: Vec<Target>,
    /// After the first target is taken, the stop moves to the entry price.
    pub breakeven_after_first: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RoiEntry {
    pub after_minutes: u32,
    pub profit_pct: Pct,
}

/// Entries by strictly increasing `after_minutes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RoiTable(Vec<RoiEntry>);

impl RoiTable {
    pub fn entries(&self) -> &[RoiEntry] {
        &self.0
    }

    /// The entry in force for a position open `age_minutes`: the one with the largest
    /// `after_minutes` not above the age.
    pub fn at(&self, age_minutes: u64) -> Option<&RoiEntry> {
        self.0
            .iter()
            .rev()
            .find(|e| u64::from(e.after_minutes) <= age_minutes)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StoplossGuard {
    pub stop_outs: u32,
    pub window: Minutes,
    pub pause: Minutes,
}

/// One validated rule value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "rule", content = "value")]
pub enum Rule {
    StopLoss(Pct),
    Trailing(Trailing),
    TakeProfitLadder(Ladder),
    RoiTable(RoiTable),
    Cooldown(Minutes),
    MaxDailyLoss(Pct),
    MaxDrawdown(Pct),
    StoplossGuard(StoplossGuard),
    FlattenOnBreach(bool),
}

/// Where a setting applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Global,
    Symbol(Symbol),
}

/// A validated write: the rule key (global form), where it applies, and the value (`None`: off).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    pub key: &'static str,
    pub scope: Scope,
    pub rule: Option<Rule>,
}

/// Why a rule write is refused; each names the key and, for a bound, the bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("{key} is not a risk rule key (known: {known})", known = KEYS.join(", "))]
    UnknownKey { key: String },
    #[error("{key}: {rule} is an account protection (per network, every symbol); it has no per-symbol form")]
    NotPerSymbol { key: String, rule: &'static str },
    #[error("{key}: symbol {symbol:?}: {reason}")]
    BadSymbol {
        key: String,
        symbol: String,
        reason: SymbolError,
    },
    #[error("{key}: write the symbol in its canonical form, {canonical}")]
    NotCanonical { key: String, canonical: String },
    #[error("{key}: not JSON: {message}")]
    NotJson { key: String, message: String },
    #[error("{key}: {field}: expected {expected}")]
    WrongType {
        key: String,
        field: String,
        expected: &'static str,
    },
    #[error("{key}: missing field {field}")]
    MissingField { key: String, field: String },
    #[error("{key}: unknown field {field}")]
    UnknownField { key: String, field: String },
    #[error("{key}: {field} = {value} is out of bounds: it must be {bound}")]
    OutOfBounds {
        key: String,
        field: String,
        value: String,
        bound: &'static str,
    },
    #[error("{key}: {field} must hold {bound} entries, not {count}")]
    Count {
        key: String,
        field: String,
        count: usize,
        bound: &'static str,
    },
    #[error("{key}: {field} must strictly increase from one entry to the next ({previous}, then {next})")]
    NotIncreasing {
        key: String,
        field: String,
        previous: String,
        next: String,
    },
    #[error("{key}: the ladder's shares sum to {total} %, above 100 %")]
    SharesOver100 { key: String, total: Decimal },
}

/// Splits a key into its rule (global form) and its symbol, if any.
fn parse_key(key: &str) -> Result<(&'static str, Scope), RuleError> {
    let unknown = || RuleError::UnknownKey {
        key: key.to_owned(),
    };
    let rest = key.strip_prefix("risk:").ok_or_else(unknown)?;
    let (name, symbol) = match rest.split_once(':') {
        Some((name, symbol)) => (name, Some(symbol)),
        None => (rest, None),
    };
    let rule = KEYS
        .into_iter()
        .find(|k| k.strip_prefix("risk:") == Some(name))
        .ok_or_else(unknown)?;
    let Some(raw) = symbol else {
        return Ok((rule, Scope::Global));
    };
    if !PER_SYMBOL_KEYS.contains(&rule) {
        return Err(RuleError::NotPerSymbol {
            key: key.to_owned(),
            rule,
        });
    }
    let parsed = Symbol::parse(raw).map_err(|reason| RuleError::BadSymbol {
        key: key.to_owned(),
        symbol: raw.to_owned(),
        reason,
    })?;
    if parsed.canonical() != raw {
        return Err(RuleError::NotCanonical {
            key: key.to_owned(),
            canonical: parsed.canonical(),
        });
    }
    Ok((rule, Scope::Symbol(parsed)))
}

/// Checks a `risk:*` key and its JSON text before a write: the config API's one entry point.
pub fn validate(key: &str, json: &str) -> Result<Setting, RuleError> {
    let value: Value = serde_json::from_str(json).map_err(|e| RuleError::NotJson {
        key: key.to_owned(),
        message: e.to_string(),
    })?;
    validate_value(key, &value)
}

/// [`validate`] over an already parsed value.
pub fn validate_value(key: &str, value: &Value) -> Result<Setting, RuleError> {
    let (rule_key, scope) = parse_key(key)?;
    if value.is_null() {
        return Ok(Setting {
            key: rule_key,
            scope,
            rule: None,
        });
    }
    let r = Reader { key };
    let rule = match rule_key {
        STOP_LOSS_PCT => Rule::StopLoss(r.pct("value", value, Bound::LOSS)?),
        TRAILING => {
            let o = r.object("value", value, &["distance_pct", "activation_pct"])?;
            Rule::Trailing(Trailing {
                distance_pct: r.pct("distance_pct", r.field(o, "distance_pct")?, Bound::LOSS)?,
                activation_pct: o
                    .get("activation_pct")
                    .filter(|v| !v.is_null())
                    .map(|v| r.pct("activation_pct", v, Bound::PROFIT))
                    .transpose()?,
            })
        }
        TAKE_PROFIT_LADDER => Rule::TakeProfitLadder(r.ladder(value)?),
        ROI_TABLE => Rule::RoiTable(r.roi(value)?),
        COOLDOWN_MINUTES => Rule::Cooldown(r.minutes("value", value, 1, MAX_MINUTES)?),
        MAX_DAILY_LOSS_PCT => Rule::MaxDailyLoss(r.pct("value", value, Bound::SHARE)?),
        MAX_DRAWDOWN_PCT => Rule::MaxDrawdown(r.pct("value", value, Bound::SHARE)?),
        STOPLOSS_GUARD => {
            let o = r.object(
                "value",
                value,
                &["stop_outs", "window_minutes", "pause_minutes"],
            )?;
            Rule::StoplossGuard(StoplossGuard {
                stop_outs: r.int("stop_outs", r.field(o, "stop_outs")?, 1, 100)?,
                window: r.minutes(
                    "window_minutes",
                    r.field(o, "window_minutes")?,
                    1,
                    MAX_MINUTES,
                )?,
                pause: r.minutes(
                    "pause_minutes",
                    r.field(o, "pause_minutes")?,
                    1,
                    MAX_MINUTES,
                )?,
            })
        }
        _ => Rule::FlattenOnBreach(
            value
                .as_bool()
                .ok_or_else(|| r.wrong("value", "true or false"))?,
        ),
    };
    Ok(Setting {
        key: rule_key,
        scope,
        rule: Some(rule),
    })
}

/// An upper bound on a percentage (the lower is always "greater than 0").
#[derive(Clone, Copy)]
struct Bound {
    max: Decimal,
    inclusive: bool,
    text: &'static str,
}

impl Bound {
    /// A loss or a distance below a price: reaching 100 % would mean a price of zero.
    const LOSS: Self = Self {
        max: Decimal::ONE_HUNDRED,
        inclusive: false,
        text: "greater than 0 and less than 100",
    };
    /// A share of a whole (equity, a position).
    const SHARE: Self = Self {
        max: Decimal::ONE_HUNDRED,
        inclusive: true,
        text: "greater than 0 and at most 100",
    };
    /// A profit: a price may rise tenfold.
    const PROFIT: Self = Self {
        max: Decimal::ONE_THOUSAND,
        inclusive: true,
        text: "greater than 0 and at most 1000",
    };
}

struct Reader<'a> {
    key: &'a str,
}

impl Reader<'_> {
    fn wrong(&self, field: &str, expected: &'static str) -> RuleError {
        RuleError::WrongType {
            key: self.key.to_owned(),
            field: field.to_owned(),
            expected,
        }
    }

    fn out(&self, field: &str, value: impl fmt::Display, bound: &'static str) -> RuleError {
        RuleError::OutOfBounds {
            key: self.key.to_owned(),
            field: field.to_owned(),
            value: value.to_string(),
            bound,
        }
    }

    fn object<'v>(
        &self,
        field: &str,
        v: &'v Value,
        allowed: &[&str],
    ) -> Result<&'v Map<String, Value>, RuleError> {
        let o = v
            .as_object()
            .ok_or_else(|| self.wrong(field, "an object"))?;
        if let Some(extra) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(RuleError::UnknownField {
                key: self.key.to_owned(),
                field: extra.clone(),
            });
        }
        Ok(o)
    }

    fn field<'v>(&self, o: &'v Map<String, Value>, name: &str) -> Result<&'v Value, RuleError> {
        o.get(name).ok_or_else(|| RuleError::MissingField {
            key: self.key.to_owned(),
            field: name.to_owned(),
        })
    }

    fn decimal(&self, field: &str, v: &Value) -> Result<Decimal, RuleError> {
        let text = match v {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_owned(),
            _ => return Err(self.wrong(field, "a number")),
        };
        Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| self.wrong(field, "a decimal number"))
    }

    fn pct(&self, field: &str, v: &Value, bound: Bound) -> Result<Pct, RuleError> {
        let d = self.decimal(field, v)?;
        let below = if bound.inclusive {
            d <= bound.max
        } else {
            d < bound.max
        };
        if d > Decimal::ZERO && below {
            Ok(Pct(d.normalize()))
        } else {
            Err(self.out(field, d, bound.text))
        }
    }

    fn int(&self, field: &str, v: &Value, lo: u32, hi: u32) -> Result<u32, RuleError> {
        let n = v
            .as_i64()
            .ok_or_else(|| self.wrong(field, "a whole number"))?;
        let bound = match (lo, hi) {
            (1, 100) => "from 1 to 100",
            (1, MAX_MINUTES) => "from 1 to 10080 (a week)",
            _ => "from 0 to 525600 (a year)",
        };
        u32::try_from(n)
            .ok()
            .filter(|n| (lo..=hi).contains(n))
            .ok_or_else(|| self.out(field, n, bound))
    }

    fn minutes(&self, field: &str, v: &Value, lo: u32, hi: u32) -> Result<Minutes, RuleError> {
        self.int(field, v, lo, hi).map(Minutes)
    }

    fn array<'v>(
        &self,
        field: &str,
        v: &'v Value,
        max: usize,
        bound: &'static str,
    ) -> Result<&'v [Value], RuleError> {
        let a = v.as_array().ok_or_else(|| self.wrong(field, "an array"))?;
        if a.is_empty() || a.len() > max {
            return Err(RuleError::Count {
                key: self.key.to_owned(),
                field: field.to_owned(),
                count: a.len(),
                bound,
            });
        }
        Ok(a)
    }

    fn increasing<T: PartialOrd + fmt::Display>(
        &self,
        field: &str,
        xs: &[T],
    ) -> Result<(), RuleError> {
        match xs.windows(2).find(|w| w[0] >= w[1]) {
            Some(w) => Err(RuleError::NotIncreasing {
                key: self.key.to_owned(),
                field: field.to_owned(),
                previous: w[0].to_string(),
                next: w[1].to_string(),
            }),
            None => Ok(()),
        }
    }

    fn ladder(&self, v: &Value) -> Result<Ladder, RuleError> {
        let o = self.object("value", v, &["targets", "breakeven_after_first"])?;
        let raw = self.array(
            "targets",
            self.field(o, "targets")?,
            MAX_LADDER_TARGETS,
            "1 to 10",
        )?;
        let mut targets = Vec::with_capacity(raw.len());
        for (i, t) in raw.iter().enumerate() {
            let name = format!("targets[{i}]");
            let t = self.object(&name, t, &["profit_pct", "share_pct"])?;
            targets.push(Target {
                profit_pct: self.pct(
                    &format!("{name}.profit_pct"),
                    self.field(t, "profit_pct")?,
                    Bound::PROFIT,
                )?,
                share_pct: self.pct(
                    &format!("{name}.share_pct"),
                    self.field(t, "share_pct")?,
                    Bound::SHARE,
                )?,
            });
        }
        let profits: Vec<Decimal> = targets.iter().map(|t| t.profit_pct.get()).collect();
        self.increasing("targets[].profit_pct", &profits)?;
        // At most 10 shares of at most 100 each: the sum cannot overflow.
        let total: Decimal = targets.iter().map(|t| t.share_pct.get()).sum();
        if total > Decimal::ONE_HUNDRED {
            return Err(RuleError::SharesOver100 {
                key: self.key.to_owned(),
                total,
            });
        }
        let breakeven_after_first = match o.get("breakeven_after_first") {
            None | Some(Value::Null) => false,
            Some(b) => b
                .as_bool()
                .ok_or_else(|| self.wrong("breakeven_after_first", "true or false"))?,
        };
        Ok(Ladder {
            targets,
            breakeven_after_first,
        })
    }

    fn roi(&self, v: &Value) -> Result<RoiTable, RuleError> {
        let raw = self.array("value", v, MAX_ROI_ENTRIES, "1 to 20")?;
        let mut entries = Vec::with_capacity(raw.len());
        for (i, e) in raw.iter().enumerate() {
            let name = format!("[{i}]");
            let e = self.object(&name, e, &["after_minutes", "profit_pct"])?;
            entries.push(RoiEntry {
                after_minutes: self.int(
                    &format!("{name}.after_minutes"),
                    self.field(e, "after_minutes")?,
                    0,
                    MAX_ROI_MINUTES,
                )?,
                profit_pct: self.pct(
                    &format!("{name}.profit_pct"),
                    self.field(e, "profit_pct")?,
                    Bound::PROFIT,
                )?,
            });
        }
        let ages: Vec<u32> = entries.iter().map(|e| e.after_minutes).collect();
        self.increasing("[].after_minutes", &ages)?;
        Ok(RoiTable(entries))
    }
}

/// The rules acting on one position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PositionRules {
    pub stop_loss: Option<Pct>,
    pub trailing: Option<Trailing>,
    pub ladder: Option<Ladder>,
    pub roi: Option<RoiTable>,
    pub cooldown: Option<Minutes>,
}

/// A symbol's overrides: per rule, `None` inherits the global value, `Some(None)` turns it off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Overrides {
    pub stop_loss: Option<Option<Pct>>,
    pub trailing: Option<Option<Trailing>>,
    pub ladder: Option<Option<Ladder>>,
    pub roi: Option<Option<RoiTable>>,
    pub cooldown: Option<Option<Minutes>>,
}

/// The protections acting on a network's account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountRules {
    pub max_daily_loss: Option<Pct>,
    pub max_drawdown: Option<Pct>,
    pub stoploss_guard: Option<StoplossGuard>,
    pub flatten_on_breach: bool,
}

/// Every rule in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleSet {
    pub global: PositionRules,
    /// By canonical symbol.
    pub symbols: BTreeMap<String, Overrides>,
    pub account: AccountRules,
}

impl RuleSet {
    /// Reads stored `(key, json)` pairs; keys outside `risk:` are skipped. A value that does not
    /// validate is left out and returned as an error for the caller to report: nothing guesses a
    /// rule.
    pub fn load<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> (Self, Vec<RuleError>) {
        let mut set = Self::default();
        let mut errors = Vec::new();
        for (key, json) in entries {
            if !key.starts_with("risk:") {
                continue;
            }
            match validate(key, json) {
                Ok(s) => set.apply(s),
                Err(e) => errors.push(e),
            }
        }
        (set, errors)
    }

    /// Puts one validated setting in force.
    pub fn apply(&mut self, setting: Setting) {
        let Setting { scope, rule, key } = setting;
        match scope {
            Scope::Global => match (key, rule) {
                (STOP_LOSS_PCT, r) => self.global.stop_loss = r.and_then(as_pct),
                (TRAILING, Some(Rule::Trailing(t))) => self.global.trailing = Some(t),
                (TRAILING, _) => self.global.trailing = None,
                (TAKE_PROFIT_LADDER, Some(Rule::TakeProfitLadder(l))) => {
                    self.global.ladder = Some(l)
                }
                (TAKE_PROFIT_LADDER, _) => self.global.ladder = None,
                (ROI_TABLE, Some(Rule::RoiTable(t))) => self.global.roi = Some(t),
                (ROI_TABLE, _) => self.global.roi = None,
                (COOLDOWN_MINUTES, Some(Rule::Cooldown(m))) => self.global.cooldown = Some(m),
                (COOLDOWN_MINUTES, _) => self.global.cooldown = None,
                (MAX_DAILY_LOSS_PCT, r) => self.account.max_daily_loss = r.and_then(as_pct),
                (MAX_DRAWDOWN_PCT, r) => self.account.max_drawdown = r.and_then(as_pct),
                (STOPLOSS_GUARD, Some(Rule::StoplossGuard(g))) => {
                    self.account.stoploss_guard = Some(g)
                }
                (STOPLOSS_GUARD, _) => self.account.stoploss_guard = None,
                (_, r) => {
                    self.account.flatten_on_breach = matches!(r, Some(Rule::FlattenOnBreach(true)))
                }
            },
            Scope::Symbol(symbol) => {
                let o = self.symbols.entry(symbol.canonical()).or_default();
                match (key, rule) {
                    (STOP_LOSS_PCT, r) => o.stop_loss = Some(r.and_then(as_pct)),
                    (TRAILING, r) => {
                        o.trailing = Some(match r {
                            Some(Rule::Trailing(t)) => Some(t),
                            _ => None,
                        })
                    }
                    (TAKE_PROFIT_LADDER, r) => {
                        o.ladder = Some(match r {
                            Some(Rule::TakeProfitLadder(l)) => Some(l),
                            _ => None,
                        })
                    }
                    (ROI_TABLE, r) => {
                        o.roi = Some(match r {
                            Some(Rule::RoiTable(t)) => Some(t),
                            _ => None,
                        })
                    }
                    (_, r) => {
                        o.cooldown = Some(match r {
                            Some(Rule::Cooldown(m)) => Some(m),
                            _ => None,
                        })
                    }
                }
            }
        }
    }

    /// The rules in force for one symbol: its overrides over the global values.
    pub fn for_symbol(&self, symbol: &Symbol) -> PositionRules {
        let g = &self.global;
        let Some(o) = self.symbols.get(&symbol.canonical()) else {
            return g.clone();
        };
        PositionRules {
            stop_loss: o.stop_loss.unwrap_or(g.stop_loss),
            trailing: o.trailing.unwrap_or(g.trailing),
            ladder: o.ladder.clone().unwrap_or_else(|| g.ladder.clone()),
            roi: o.roi.clone().unwrap_or_else(|| g.roi.clone()),
            cooldown: o.cooldown.unwrap_or(g.cooldown),
        }
    }
}

fn as_pct(r: Rule) -> Option<Pct> {
    match r {
        Rule::StopLoss(p) | Rule::MaxDailyLoss(p) | Rule::MaxDrawdown(p) => Some(p),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(key: &str, json: &str) -> Rule {
        match validate(key, json) {
            Ok(Setting { rule: Some(r), .. }) => r,
            other => panic!("{key} = {json}: {other:?}"),
        }
    }

    fn err(key: &str, json: &str) -> RuleError {
        validate(key, json).expect_err(json)
    }

    fn pct(s: &str) -> Pct {
        Pct(Decimal::from_str(s).unwrap())
    }

    #[test]
    fn each_rule_reads_its_documented_form() {
        assert_eq!(ok(STOP_LOSS_PCT, "5"), Rule::StopLoss(pct("5")));
        assert_eq!(ok(STOP_LOSS_PCT, "\"2.50\""), Rule::StopLoss(pct("2.5")));
        assert_eq!(
            ok(TRAILING, r#"{"distance_pct": 1.5, "activation_pct": 3}"#),
            Rule::Trailing(Trailing {
                distance_pct: pct("1.5"),
                activation_pct: Some(pct("3")),
            })
        );
        assert_eq!(
            ok(TRAILING, r#"{"distance_pct": 2}"#),
            Rule::Trailing(Trailing {
                distance_pct: pct("2"),
                activation_pct: None,
            })
        );
        let Rule::TakeProfitLadder(l) = ok(
            TAKE_PROFIT_LADDER,
            r#"{"targets": [{"profit_pct": 2, "share_pct": 50}, {"profit_pct": 5, "share_pct": 50}], "breakeven_after_first": true}"#,
        ) else {
            panic!()
        };
        assert_eq!(l.targets.len(), 2);
        assert!(l.breakeven_after_first);
        let Rule::RoiTable(t) = ok(
            ROI_TABLE,
            r#"[{"after_minutes": 0, "profit_pct": 10}, {"after_minutes": 30, "profit_pct": 4}, {"after_minutes": 120, "profit_pct": 1}]"#,
        ) else {
            panic!()
        };
        assert_eq!(t.at(0).unwrap().profit_pct, pct("10"));
        assert_eq!(t.at(29).unwrap().profit_pct, pct("10"));
        assert_eq!(t.at(30).unwrap().profit_pct, pct("4"));
        assert_eq!(t.at(10_000).unwrap().profit_pct, pct("1"));
        assert_eq!(ok(COOLDOWN_MINUTES, "15"), Rule::Cooldown(Minutes(15)));
        assert_eq!(ok(MAX_DAILY_LOSS_PCT, "3"), Rule::MaxDailyLoss(pct("3")));
        assert_eq!(ok(MAX_DRAWDOWN_PCT, "100"), Rule::MaxDrawdown(pct("100")));
        assert_eq!(
            ok(
                STOPLOSS_GUARD,
                r#"{"stop_outs": 3, "window_minutes": 60, "pause_minutes": 120}"#
            ),
            Rule::StoplossGuard(StoplossGuard {
                stop_outs: 3,
                window: Minutes(60),
                pause: Minutes(120),
            })
        );
        assert_eq!(ok(FLATTEN_ON_BREACH, "true"), Rule::FlattenOnBreach(true));
    }

    #[test]
    fn bounds_are_refused_with_the_key_and_the_bound() {
        for (key, json) in [
            (STOP_LOSS_PCT, "0"),
            (STOP_LOSS_PCT, "-5"),
            (STOP_LOSS_PCT, "100"),
            (MAX_DAILY_LOSS_PCT, "-3"),
            (MAX_DRAWDOWN_PCT, "100.01"),
            (TRAILING, r#"{"distance_pct": 0}"#),
            (TRAILING, r#"{"distance_pct": 1, "activation_pct": -2}"#),
            (
                TAKE_PROFIT_LADDER,
                r#"{"targets": [{"profit_pct": -2, "share_pct": 50}]}"#,
            ),
            (ROI_TABLE, r#"[{"after_minutes": 0, "profit_pct": 0}]"#),
        ] {
            let e = err(key, json);
            assert!(
                matches!(e, RuleError::OutOfBounds { .. }),
                "{key} {json}: {e:?}"
            );
            let text = e.to_string();
            assert!(text.starts_with(key), "{text}");
            assert!(text.contains("greater than 0"), "{text}");
        }
        let e = err(COOLDOWN_MINUTES, "0").to_string();
        assert!(e.contains("from 1 to 10080"), "{e}");
        let e = err(
            STOPLOSS_GUARD,
            r#"{"stop_outs": 0, "window_minutes": 60, "pause_minutes": 60}"#,
        );
        assert!(e.to_string().contains("stop_outs = 0"), "{e}");
    }

    #[test]
    fn shapes_are_refused() {
        assert!(matches!(
            err(
                TAKE_PROFIT_LADDER,
                r#"{"targets": [{"profit_pct": 2, "share_pct": 60}, {"profit_pct": 3, "share_pct": 50}]}"#
            ),
            RuleError::SharesOver100 { .. }
        ));
        assert!(matches!(
            err(
                TAKE_PROFIT_LADDER,
                r#"{"targets": [{"profit_pct": 3, "share_pct": 10}, {"profit_pct": 3, "share_pct": 10}]}"#
            ),
            RuleError::NotIncreasing { .. }
        ));
        assert!(matches!(
            err(TAKE_PROFIT_LADDER, r#"{"targets": []}"#),
            RuleError::Count { .. }
        ));
        assert!(matches!(
            err(
                ROI_TABLE,
                r#"[{"after_minutes": 30, "profit_pct": 1}, {"after_minutes": 10, "profit_pct": 2}]"#
            ),
            RuleError::NotIncreasing { .. }
        ));
        assert!(matches!(
            err(TRAILING, r#"{"distance_pct": 1, "offset": 2}"#),
            RuleError::UnknownField { .. }
        ));
        assert!(matches!(
            err(TRAILING, r#"{"activation_pct": 2}"#),
            RuleError::MissingField { .. }
        ));
        assert!(matches!(
            err(STOP_LOSS_PCT, "five"),
            RuleError::NotJson { .. }
        ));
        assert!(matches!(
            err(STOP_LOSS_PCT, "true"),
            RuleError::WrongType { .. }
        ));
        assert!(matches!(
            err(FLATTEN_ON_BREACH, "1"),
            RuleError::WrongType { .. }
        ));
    }

    #[test]
    fn keys_and_per_symbol_form() {
        assert!(matches!(
            err("risk:stop_loss", "5"),
            RuleError::UnknownKey { .. }
        ));
        assert!(matches!(
            err("trade:stop_loss_pct", "5"),
            RuleError::UnknownKey { .. }
        ));
        assert!(matches!(
            err("risk:max_drawdown_pct:BTCUSDT", "5"),
            RuleError::NotPerSymbol { .. }
        ));
        assert!(matches!(
            err("risk:stop_loss_pct:BTC/USDT", "5"),
            RuleError::NotCanonical { .. }
        ));
        assert!(matches!(
            err("risk:stop_loss_pct:BTC", "5"),
            RuleError::BadSymbol { .. }
        ));
        let s = validate("risk:stop_loss_pct:ETHUSDT", "null").unwrap();
        assert_eq!(s.key, STOP_LOSS_PCT);
        assert_eq!(s.rule, None);
        assert_eq!(s.scope, Scope::Symbol(Symbol::parse("ETHUSDT").unwrap()));
    }

    #[test]
    fn overrides_replace_or_turn_off_the_global_rule() {
        let (set, errors) = RuleSet::load([
            (STOP_LOSS_PCT, "5"),
            (COOLDOWN_MINUTES, "10"),
            ("risk:stop_loss_pct:BTCUSDT", "2"),
            ("risk:stop_loss_pct:ETHUSDT", "null"),
            ("risk:cooldown_minutes:ETHUSDT", "30"),
            ("risk:trailing", r#"{"distance_pct": -1}"#),
            ("trade:kill_switch", "false"),
        ]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].to_string().starts_with(TRAILING));
        let btc = set.for_symbol(&Symbol::parse("BTCUSDT").unwrap());
        let eth = set.for_symbol(&Symbol::parse("ETHUSDT").unwrap());
        let sol = set.for_symbol(&Symbol::parse("SOLUSDT").unwrap());
        assert_eq!(btc.stop_loss, Some(pct("2")));
        assert_eq!(btc.cooldown, Some(Minutes(10)));
        assert_eq!(eth.stop_loss, None);
        assert_eq!(eth.cooldown, Some(Minutes(30)));
        assert_eq!(sol.stop_loss, Some(pct("5")));
        assert_eq!(sol.trailing, None);
    }
}
