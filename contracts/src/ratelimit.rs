//! Token buckets for the gateway's `429 rate_limited` answer: one per credential (and sender
//! address) for authenticated signals, and a cheap one per sender address for refusals, so strangers behind a
//! shared address (TradingView sends from four) cannot drain a trader's bucket. IPv6 senders are
//! bucketed per /64, the block one subscriber is usually given.
//!
//! Time is passed in, so the policy is tested natively and runs the same on the Workers clock.
//! The table is bounded: past `MAX_KEYS` senders, the stalest bucket is dropped (a dropped sender
//! simply starts with a full bucket again).

use crate::config::Quota;
use std::collections::HashMap;

const MAX_KEYS: usize = 10_000;

/// The bucket of a sender address (`CF-Connecting-IP`): an IPv4 address as it is, an IPv6 one as
/// its /64 (`2001:db8:1:2::/64`; an IPv4-mapped one as the IPv4 address). Absent or unreadable:
/// one shared `unknown` bucket.
pub fn sender_key(ip: Option<&str>) -> String {
    use std::net::IpAddr;
    match ip.map(str::trim).and_then(|ip| ip.parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let net = u128::from(v6) & (u128::MAX << 64);
                format!("{}/64", std::net::Ipv6Addr::from(net))
            }
        },
        None => "unknown".to_owned(),
    }
}

/// The bucket of an authenticated sender: the credential that verified it, per sender address
/// (`sender_key`). Only a holder of the credential can draw from it, so a stranger sharing the
/// address drains nothing but the refusals' bucket; and one sender's burst does not hold back
/// the same credential's signals from elsewhere, as before.
pub fn credential_key(credential: &str, sender: &str) -> String {
    format!("credential:{credential}:{sender}")
}

#[derive(Debug, Clone)]
pub struct TokenBuckets {
    capacity: f64,
    refill_per_ms: f64,
    buckets: HashMap<String, (f64, i64)>,
}

impl TokenBuckets {
    /// `quota.count` requests per `quota.per_seconds`, with bursts up to `quota.count`.
    pub fn new(quota: Quota) -> Self {
        Self {
            capacity: f64::from(quota.count),
            refill_per_ms: f64::from(quota.count) / (f64::from(quota.per_seconds) * 1000.0),
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `key` at `now_ms`; `Err(seconds)` says when one will be available.
    pub fn check(&mut self, key: &str, now_ms: i64) -> Result<(), u32> {
        if !self.buckets.contains_key(key) && self.buckets.len() >= MAX_KEYS {
            if let Some(stalest) = self
                .buckets
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone())
            {
                self.buckets.remove(&stalest);
            }
        }
        let (tokens, at) = self
            .buckets
            .entry(key.to_owned())
            .or_insert((self.capacity, now_ms));
        let elapsed = (now_ms - *at).max(0) as f64;
        *tokens = (*tokens + elapsed * self.refill_per_ms).min(self.capacity);
        *at = now_ms;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = (1.0 - *tokens) / self.refill_per_ms;
            Err((wait_ms / 1000.0).ceil().max(1.0) as u32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ipv6_senders_share_a_bucket_per_64() {
        assert_eq!(
            sender_key(Some("2001:db8:1:2:aaaa::1")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            sender_key(Some("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            sender_key(Some("2001:db8:1:2::9"))
        );
        assert_ne!(
            sender_key(Some("2001:db8:1:3::1")),
            sender_key(Some("2001:db8:1:2::1"))
        );
        assert_eq!(sender_key(Some(" 192.0.2.7 ")), "192.0.2.7");
        assert_eq!(sender_key(Some("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(sender_key(Some("not an address")), "unknown");
        assert_eq!(sender_key(None), "unknown");
        let ip = sender_key(Some("192.0.2.7"));
        assert_ne!(
            credential_key("WEBHOOK_API_KEY", &ip),
            ip,
            "refusals and signals apart"
        );
        assert_ne!(
            credential_key("WEBHOOK_API_KEY", &ip),
            credential_key("WEBHOOK_SIGNING_SECRET", &ip)
        );
    }

    #[test]
    fn a_whole_64_is_one_sender() {
        let mut b = TokenBuckets::new(Quota {
            count: 2,
            per_seconds: 60,
        });
        let a = sender_key(Some("2001:db8::1"));
        let c = sender_key(Some("2001:db8::2:3:4"));
        assert!(b.check(&a, 0).is_ok());
        assert!(b.check(&c, 0).is_ok());
        assert!(
            b.check(&a, 0).is_err(),
            "a neighbour in the /64 used the second token"
        );
    }

    #[test]
    fn bursts_then_refills() {
        let mut b = TokenBuckets::new(Quota {
            count: 3,
            per_seconds: 1,
        });
        assert!(b.check("a", 0).is_ok());
        assert!(b.check("a", 0).is_ok());
        assert!(b.check("a", 0).is_ok());
        assert_eq!(b.check("a", 0), Err(1));
        assert!(b.check("b", 0).is_ok(), "senders are independent");
        assert!(
            b.check("a", 334).is_ok(),
            "one token back after a third of a second"
        );
        assert!(b.check("a", 334).is_err());
    }

    proptest! {
        #[test]
        fn never_more_than_quota_in_a_window(count in 1u32..50, times in proptest::collection::vec(0i64..5_000, 1..400)) {
            let mut b = TokenBuckets::new(Quota { count, per_seconds: 1 });
            let mut times = times;
            times.sort_unstable();
            let mut allowed = Vec::new();
            for t in times {
                if b.check("k", t).is_ok() {
                    allowed.push(t);
                }
            }
            // In any 1 s window at most `count` (burst) + `count` (refill) pass.
            for (i, t) in allowed.iter().enumerate() {
                let in_window = allowed[i..].iter().take_while(|u| **u < t + 1000).count();
                prop_assert!(in_window as u32 <= 2 * count);
            }
        }
    }
}
