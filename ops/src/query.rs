//! Parameterised statements, keyset paging and query-string filters.
//!
//! Every statement this crate builds is a [`Query`]: SQL text made only of constant column names
//! and `?N` placeholders, plus the values bound to them. Caller input (a symbol, a reason, a
//! cursor) only ever becomes a [`Param`], so no filter can change what a statement does. Lists
//! page by key (a [`Cursor`] names the last row seen), which stays correct while new rows arrive.
//!
//! The builder is hand-written rather than a query-builder crate: D1 takes SQLite text with
//! `?N` placeholders and JSON-typed binds, the statements are few and fixed, and keeping the
//! text constant is what the property tests check (no filter value ever reaches the SQL).

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Default page size of every list.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page any list serves.
pub const MAX_LIMIT: u32 = 200;

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Text(String),
    Int(i64),
    Null,
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Self::Null)
    }
}

/// One statement and its bound values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Query {
    pub fn new(sql: impl Into<String>, params: Vec<Param>) -> Self {
        Self {
            sql: sql.into(),
            params,
        }
    }
}

/// A `WHERE` clause built from constant columns and bound values.
#[derive(Debug, Default)]
pub(crate) struct Where {
    clauses: Vec<String>,
    pub(crate) params: Vec<Param>,
}

impl Where {
    fn bind(&mut self, v: Param) -> String {
        self.params.push(v);
        format!("?{}", self.params.len())
    }

    /// `column <op> value`; `op` and `column` are constants of this crate.
    pub(crate) fn cmp(&mut self, column: &'static str, op: &'static str, v: impl Into<Param>) {
        let p = self.bind(v.into());
        self.clauses.push(format!("{column} {op} {p}"));
    }

    pub(crate) fn eq_opt<T: Into<Param>>(&mut self, column: &'static str, v: Option<T>) {
        if let Some(v) = v {
            self.cmp(column, "=", v);
        }
    }

    /// Keyset condition for a list ordered by `(time DESC, tie DESC)`.
    pub(crate) fn before(&mut self, time: &'static str, tie: &'static str, c: &Cursor) {
        let t = self.bind(Param::Int(c.at));
        let k = self.bind(Param::Text(c.tie.clone()));
        self.clauses
            .push(format!("({time} < {t} OR ({time} = {t} AND {tie} < {k}))"));
    }

    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// The next placeholder, bound to a `LIMIT` of `rows`.
    pub(crate) fn limit(&mut self, rows: u32) -> String {
        self.bind(Param::Int(i64::from(rows)))
    }

    /// The `LIMIT` of one page: one row more than the page holds, to tell if more follow.
    pub(crate) fn page_limit(&mut self, paging: &Paging) -> String {
        self.limit(paging.limit() + 1)
    }
}

/// The position after the last row of a page: `(time, tie-breaker)` of that row. Opaque to
/// callers (base64url), so its shape may change without breaking them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub tie: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{}", self.at, self.tie))
    }

    pub fn decode(s: &str) -> Result<Self, FilterError> {
        let bad = || FilterError::Invalid {
            field: "cursor",
            message: "not a cursor this API returned".into(),
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim())
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (at, tie) = text.split_once(':').ok_or_else(bad)?;
        Ok(Self {
            at: at.parse().map_err(|_| bad())?,
            tie: tie.to_owned(),
        })
    }
}

/// One page of a list: `next_cursor` is set when more rows follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Cuts the `limit + 1` rows a list query returns to `limit`, with a cursor from the last
    /// kept row when there were more.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> Cursor) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| cursor_of(r).encode())
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

/// Paging arguments of every list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Paging {
    pub limit: Option<u32>,
    pub cursor: Option<Cursor>,
}

impl Paging {
    /// The page size, defaulted and capped.
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }

    pub(crate) fn take(&mut self, key: &str, value: &str) -> Result<bool, FilterError> {
        match key {
            "limit" => self.limit = Some(parse_num("limit", value)?),
            "cursor" if !value.is_empty() => self.cursor = Some(Cursor::decode(value)?),
            "cursor" => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub(crate) fn pairs(&self, out: &mut Vec<(String, String)>) {
        if let Some(l) = self.limit {
            out.push(("limit".into(), l.to_string()));
        }
        if let Some(c) = &self.cursor {
            out.push(("cursor".into(), c.encode()));
        }
    }
}

/// A filter the API refuses, naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown query parameter `{0}`")]
    Unknown(String),
    #[error("invalid `{field}`: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

impl FilterError {
    pub fn field(&self) -> &str {
        match self {
            Self::Unknown(f) => f,
            Self::Invalid { field, .. } => field,
        }
    }
}

pub(crate) fn parse_num<T: std::str::FromStr>(
    field: &'static str,
    value: &str,
) -> Result<T, FilterError> {
    value.trim().parse().map_err(|_| FilterError::Invalid {
        field,
        message: format!("{value:?} is not a number"),
    })
}

/// A canonical symbol from any accepted spelling (`btc/usdt` → `BTCUSDT`).
pub(crate) fn parse_symbol(value: &str) -> Result<String, FilterError> {
    contracts::symbol::Symbol::parse(value)
        .map(|s| s.canonical())
        .map_err(|e| FilterError::Invalid {
            field: "symbol",
            message: e.to_string(),
        })
}

pub(crate) fn parse_exchange(value: &str) -> Result<String, FilterError> {
    value
        .parse::<contracts::signal::Exchange>()
        .map(|e| e.as_str().to_owned())
        .map_err(|_| FilterError::Invalid {
            field: "exchange",
            message: "one of bybit, binance, mexc, paper".into(),
        })
}

/// A short identifier-like value (`kill_switch`, `pending`): letters, digits, `_`, `-`, `:`, `.`.
pub(crate) fn parse_word(field: &'static str, value: &str) -> Result<String, FilterError> {
    let v = value.trim();
    if v.is_empty()
        || v.len() > 64
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-:.".contains(&b))
    {
        return Err(FilterError::Invalid {
            field,
            message: "letters, digits, _ - : . only (at most 64)".into(),
        });
    }
    Ok(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn page_cuts_the_extra_row_and_points_after_the_last_kept() {
        let rows = vec![(5, "e"), (4, "d"), (3, "c")];
        let page = Page::from_rows(rows, 2, |r| Cursor {
            at: r.0,
            tie: r.1.into(),
        });
        assert_eq!(page.items.len(), 2);
        let c = Cursor::decode(page.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!((c.at, c.tie.as_str()), (4, "d"));
        let last = Page::from_rows(vec![(1, "a")], 2, |r| Cursor {
            at: r.0,
            tie: r.1.into(),
        });
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn limits_are_defaulted_and_capped() {
        assert_eq!(Paging::default().limit(), DEFAULT_LIMIT);
        let p = Paging {
            limit: Some(10_000),
            cursor: None,
        };
        assert_eq!(p.limit(), MAX_LIMIT);
        let p = Paging {
            limit: Some(0),
            cursor: None,
        };
        assert_eq!(p.limit(), 1);
    }

    #[test]
    fn garbage_cursors_are_refused_with_the_field() {
        for bad in ["", "!!", "bm8tY29sb24", "YWJjOmQ"] {
            let e = Cursor::decode(bad).unwrap_err();
            assert_eq!(e.field(), "cursor", "{bad}");
        }
    }

    proptest! {
        #[test]
        fn cursors_round_trip(at in any::<i64>(), tie in ".{0,80}") {
            let c = Cursor { at, tie };
            prop_assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        }
    }
}
