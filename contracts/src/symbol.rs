//! Trading-pair symbols: one canonical form inside hoox, whatever the sender wrote.
//!
//! Senders write `BTCUSDT`, `BTC/USDT`, `BTC-USDT`, `btc_usdt` or TradingView's
//! `BINANCE:BTCUSDT.P`; all become base `BTC`, quote `USDT`, canonical `BTCUSDT`. Exchange
//! adapters derive their own form (`BTC_USDT` on MEXC) from the parts.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Quote assets hoox trades against, longest first so `USDT` wins over `USD` when the sender
/// wrote no separator. A separated symbol must use one of them too, so every canonical form
/// parses back to itself.
const QUOTES: &[&str] = &[
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDE", "USD", "EUR", "TRY", "BRL", "BTC", "ETH",
    "BNB",
];

/// Longest base asset accepted (`1000000MOG` is 10).
const MAX_BASE: usize = 20;
/// Longest quote asset in [`QUOTES`].
const MAX_QUOTE: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Symbol {
    pub base: String,
    pub quote: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    #[error("symbol is empty")]
    Empty,
    #[error("symbol may hold only letters and digits around one separator (/, -, _)")]
    BadCharacters,
    #[error("symbol has no recognised quote asset (e.g. USDT); write it as BASE/QUOTE")]
    UnknownQuote,
}

impl Symbol {
    /// Parses any accepted sender spelling into a canonical symbol.
    pub fn parse(raw: &str) -> Result<Self, SymbolError> {
        let mut s = raw.trim();
        // TradingView prefixes the venue: `BINANCE:BTCUSDT.P`.
        if let Some((_, rest)) = s.rsplit_once(':') {
            s = rest;
        }
        let upper = s.to_ascii_uppercase();
        let mut s = upper.as_str();
        for suffix in [".PERP", ".P", "PERP"] {
            if let Some(stripped) = s.strip_suffix(suffix) {
                if !stripped.is_empty() {
                    s = stripped;
                    break;
                }
            }
        }
        if s.is_empty() {
            return Err(SymbolError::Empty);
        }
        let parts: Vec<&str> = s.split(['/', '-', '_']).collect();
        // A base is at most MAX_BASE characters; a joined symbol is a base plus a quote.
        let alnum = |p: &str, max: usize| {
            !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        let valid = |p: &str| alnum(p, MAX_BASE);
        match parts.as_slice() {
            [base, quote] if valid(base) && valid(quote) => {
                if !QUOTES.contains(quote) {
                    return Err(SymbolError::UnknownQuote);
                }
                Ok(Self {
                    base: (*base).to_owned(),
                    quote: (*quote).to_owned(),
                })
            }
            [joined] if alnum(joined, MAX_BASE + MAX_QUOTE) => QUOTES
                .iter()
                .find_map(|q| {
                    joined
                        .strip_suffix(q)
                        .filter(|base| valid(base))
                        .map(|base| Self {
                            base: base.to_owned(),
                            quote: (*q).to_owned(),
                        })
                })
                .ok_or(SymbolError::UnknownQuote),
            _ => Err(SymbolError::BadCharacters),
        }
    }

    /// `BTCUSDT`: the form Bybit and Binance use, and the one stored and logged.
    pub fn canonical(&self) -> String {
        format!("{}{}", self.base, self.quote)
    }

    /// `BTC_USDT`: MEXC futures.
    pub fn underscored(&self) -> String {
        format!("{}_{}", self.base, self.quote)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.base, self.quote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sender_spellings_are_canonical() {
        for raw in [
            "BTCUSDT",
            "btcusdt",
            "BTC/USDT",
            "BTC-USDT",
            "btc_usdt",
            "BINANCE:BTCUSDT.P",
            "BYBIT:BTCUSDT.P",
            " BTCUSDTPERP ",
        ] {
            let s = Symbol::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(s.canonical(), "BTCUSDT", "{raw}");
            assert_eq!(s.underscored(), "BTC_USDT", "{raw}");
        }
        assert_eq!(Symbol::parse("ETHBTC").map(|s| s.base), Ok("ETH".into()));
        assert_eq!(
            Symbol::parse("1000PEPEUSDT").map(|s| s.base),
            Ok("1000PEPE".into())
        );
    }

    #[test]
    fn max_quote_covers_every_quote() {
        assert!(QUOTES.iter().all(|q| q.len() <= MAX_QUOTE));
    }

    #[test]
    fn bad_symbols_are_refused() {
        assert_eq!(Symbol::parse(""), Err(SymbolError::Empty));
        assert_eq!(Symbol::parse("BINANCE:"), Err(SymbolError::Empty));
        assert_eq!(Symbol::parse("BTC/US DT"), Err(SymbolError::BadCharacters));
        assert_eq!(Symbol::parse("BTC//USDT"), Err(SymbolError::BadCharacters));
        assert_eq!(Symbol::parse("FOOBAR"), Err(SymbolError::UnknownQuote));
        assert_eq!(Symbol::parse("USDT"), Err(SymbolError::UnknownQuote));
        // Found by the queue_envelope fuzz target: a separated symbol with an unknown quote
        // had a canonical form that did not parse back.
        assert_eq!(Symbol::parse("7-2\t"), Err(SymbolError::UnknownQuote));
        // Found by the same target: a 19-character base with a separator made a canonical form
        // longer than a joined symbol could be.
        let long = Symbol::parse("L000000000000000060/USDT").unwrap();
        assert_eq!(Symbol::parse(&long.canonical()), Ok(long));
    }

    proptest! {
        #[test]
        fn separators_and_case_do_not_matter(base in "[A-Z0-9]{1,10}", quote in prop::sample::select(QUOTES), sep in prop::sample::select(vec!["", "/", "-", "_"]), lower in any::<bool>()) {
            let raw = format!("{base}{sep}{quote}");
            let raw = if lower { raw.to_ascii_lowercase() } else { raw };
            let s = Symbol::parse(&raw).unwrap();
            // Without a separator the longest matching quote wins, which can move letters
            // between base and quote (e.g. `XUSDT`+`USD`), but the canonical form is stable.
            prop_assert_eq!(s.canonical(), format!("{base}{quote}"));
            prop_assert_eq!(Symbol::parse(&s.canonical()).unwrap().canonical(), s.canonical());
        }

        #[test]
        fn separated_symbols_round_trip(base in "[A-Z0-9]{1,20}", quote in prop::sample::select(QUOTES), sep in prop::sample::select(vec!["/", "-", "_"])) {
            let s = Symbol::parse(&format!("{base}{sep}{quote}")).unwrap();
            prop_assert_eq!(Symbol::parse(&s.canonical()).map(|p| p.canonical()), Ok(s.canonical()));
        }

        #[test]
        fn canonical_forms_parse_back(raw in ".{0,64}") {
            if let Ok(s) = Symbol::parse(&raw) {
                prop_assert_eq!(Symbol::parse(&s.canonical()).map(|p| p.canonical()), Ok(s.canonical()));
            }
        }
    }
}
