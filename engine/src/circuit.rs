//! The IP-ban circuit breaker, as a pure struct with the time passed in.
//!
//! When an exchange bans this IP (Binance 418, Bybit 403), every further call only lengthens the
//! ban, so no attempt calls that exchange until the ban is over: the jobs wait in the queue
//! instead. A ban is per exchange *and* environment: mainnet and testnet are different hosts, and
//! a ban on one says nothing about the other. The worker keeps one breaker per isolate and
//! mirrors its bans in KV for the other isolates; the engine only asks and records.

use contracts::signal::Exchange;
use std::collections::BTreeMap;

/// How long a ban lasts when the exchange announced no duration.
pub const DEFAULT_BAN_SECONDS: u32 = 60;

/// An exchange's hosts: production or testnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Network {
    Mainnet,
    Testnet,
}

impl Network {
    pub fn of(testnet: bool) -> Self {
        if testnet {
            Self::Testnet
        } else {
            Self::Mainnet
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mainnet => "mainnet",
            Self::Testnet => "testnet",
        }
    }
}

/// Bans in force: (exchange, network) → banned until (epoch ms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CircuitBreaker {
    bans: BTreeMap<(Exchange, Network), i64>,
}

impl CircuitBreaker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a ban of `seconds` from `now_ms`; a ban already known to last longer is kept.
    /// Returns when the ban ends.
    pub fn open(&mut self, exchange: Exchange, network: Network, now_ms: i64, seconds: u32) -> i64 {
        let until = now_ms.saturating_add(i64::from(seconds).saturating_mul(1000));
        self.ban_until(exchange, network, until)
    }

    /// Records a ban ending at `until_ms` (as read from another isolate's mirror); the later
    /// end wins. Returns when the ban ends.
    pub fn ban_until(&mut self, exchange: Exchange, network: Network, until_ms: i64) -> i64 {
        let end = self.bans.entry((exchange, network)).or_insert(until_ms);
        *end = (*end).max(until_ms);
        *end
    }

    /// Whole seconds until the ban on `exchange`'s `network` ends (at least 1), or `None` when
    /// the exchange may be called.
    pub fn open_for(&self, exchange: Exchange, network: Network, now_ms: i64) -> Option<u32> {
        let until = *self.bans.get(&(exchange, network))?;
        let left = until.saturating_sub(now_ms);
        (left > 0).then(|| u32::try_from(left.saturating_add(999) / 1000).unwrap_or(u32::MAX))
    }

    /// When the ban on `exchange`'s `network` ends, if one was ever recorded (past or not).
    pub fn until(&self, exchange: Exchange, network: Network) -> Option<i64> {
        self.bans.get(&(exchange, network)).copied()
    }

    /// Every recorded ban, for the worker's KV mirror.
    pub fn bans(&self) -> impl Iterator<Item = (Exchange, Network, i64)> + '_ {
        self.bans.iter().map(|(&(e, n), &until)| (e, n, until))
    }

    /// Forgets bans that ended before `now_ms`.
    pub fn prune(&mut self, now_ms: i64) {
        self.bans.retain(|_, until| *until > now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_is_per_exchange_and_network_and_ends_on_time() {
        let mut c = CircuitBreaker::new();
        assert_eq!(c.open_for(Exchange::Binance, Network::Mainnet, 0), None);
        c.open(Exchange::Binance, Network::Mainnet, 1_000, 60);
        assert_eq!(
            c.open_for(Exchange::Binance, Network::Mainnet, 1_000),
            Some(60)
        );
        // 59.5 s left is announced as 60: never a retry before the ban ends.
        assert_eq!(
            c.open_for(Exchange::Binance, Network::Mainnet, 1_500),
            Some(60)
        );
        assert_eq!(
            c.open_for(Exchange::Binance, Network::Mainnet, 60_999),
            Some(1)
        );
        assert_eq!(
            c.open_for(Exchange::Binance, Network::Mainnet, 61_000),
            None
        );
        // Testnet and the other exchanges are unaffected.
        assert_eq!(c.open_for(Exchange::Binance, Network::Testnet, 1_000), None);
        assert_eq!(c.open_for(Exchange::Bybit, Network::Mainnet, 1_000), None);
    }

    #[test]
    fn the_longer_ban_wins_and_old_bans_are_pruned() {
        let mut c = CircuitBreaker::new();
        c.open(Exchange::Bybit, Network::Testnet, 0, 120);
        // A shorter ban reported later (another isolate, a stale mirror) does not shorten it.
        assert_eq!(
            c.open(Exchange::Bybit, Network::Testnet, 10_000, 5),
            120_000
        );
        assert_eq!(
            c.ban_until(Exchange::Bybit, Network::Testnet, 200_000),
            200_000
        );
        assert_eq!(c.until(Exchange::Bybit, Network::Testnet), Some(200_000));
        c.prune(200_000);
        assert_eq!(c.bans().count(), 0);
    }
}
