//! Exchange adapters, pure parts: turning a validated signal into an order, the checks every order
//! passes before any exchange sees it, the built-in paper exchange, and the protocols of Bybit,
//! Binance and MEXC (request building, signing, answer classification).
//!
//! Nothing here performs I/O; the `consumers` worker supplies the transport and the clock.

pub mod account;
pub mod binance;
pub mod bybit;
pub mod mexc;
pub mod order;
pub mod paper;
pub mod precision;
pub mod protect;
pub mod quote;
pub mod signing;
pub mod stops;
pub mod venue;
mod wire;

#[cfg(test)]
mod test_support;

pub use order::{OrderRequest, PreTradeError, Side};

use contracts::signal::Exchange;
use venue::Venue;

/// The protocol of a real exchange; `None` for paper, which never leaves the process.
pub fn venue(exchange: Exchange) -> Option<&'static dyn Venue> {
    match exchange {
        Exchange::Bybit => Some(&bybit::BYBIT),
        Exchange::Binance => Some(&binance::BINANCE),
        Exchange::Mexc => Some(&mexc::MEXC),
        Exchange::Paper => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_real_exchange_has_its_venue() {
        for ex in Exchange::ALL {
            match venue(ex) {
                Some(v) => assert_eq!(v.exchange(), ex),
                None => assert_eq!(ex, Exchange::Paper),
            }
        }
    }
}
