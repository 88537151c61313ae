//! When the next Telegram message may go out, as a pure state machine with time passed in.
//!
//! Telegram asks bots to stay under about one message per second per chat, twenty per minute per
//! group chat (negative chat ids), and thirty per second overall, and answers `429` with
//! `retry_after` seconds when a bot goes faster. [`RateLimiter::acquire`] either grants a send
//! (and records it) or says how long to wait; [`RateLimiter::retry_after`] pauses a chat and the
//! bot after a `429`. Nothing here reads a clock, so every rule is tested with exact times.
//!
//! Hand-written rather than a general limiter (`governor` and the like): Telegram's rules are
//! three nested limits plus server-imposed pauses, and the limiter must be a plain value the
//! worker keeps between messages with time passed in, so every rule is property-tested exactly.

use std::collections::{BTreeMap, VecDeque};

/// Telegram's documented limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Least gap between two messages to one chat.
    pub per_chat_gap_ms: i64,
    /// Most messages to one group chat in any minute.
    pub group_per_minute: usize,
    /// Most messages in any second, all chats together.
    pub global_per_second: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            per_chat_gap_ms: 1_000,
            group_per_minute: 20,
            global_per_second: 30,
        }
    }
}

const MINUTE_MS: i64 = 60_000;
const SECOND_MS: i64 = 1_000;

#[derive(Debug, Default, Clone)]
struct ChatState {
    last_ms: Option<i64>,
    /// Sends within the last minute (group chats only).
    minute: VecDeque<i64>,
    paused_until: i64,
}

/// The answer to "may I send to this chat now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Granted and recorded: send now.
    Now,
    /// Not before this many milliseconds from now.
    Wait(i64),
}

/// Whether a chat id is a group, supergroup or channel (Telegram gives those negative ids).
pub fn is_group(chat_id: i64) -> bool {
    chat_id < 0
}

#[derive(Debug, Clone, Default)]
pub struct RateLimiter {
    policy: Policy,
    chats: BTreeMap<i64, ChatState>,
    /// Sends within the last second, all chats.
    second: VecDeque<i64>,
    paused_until: i64,
}

impl RateLimiter {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    fn prune(&mut self, now: i64) {
        while self.second.front().is_some_and(|&t| t <= now - SECOND_MS) {
            self.second.pop_front();
        }
        let gap = self.policy.per_chat_gap_ms;
        self.chats.retain(|_, c| {
            while c.minute.front().is_some_and(|&t| t <= now - MINUTE_MS) {
                c.minute.pop_front();
            }
            // Forget chats that no rule can hold back any more, so memory stays bounded.
            !c.minute.is_empty() || c.paused_until > now || c.last_ms.is_some_and(|l| l + gap > now)
        });
    }

    /// How long until a message to `chat_id` may go out (0 = now). Does not record anything.
    pub fn wait_ms(&mut self, chat_id: i64, now: i64) -> i64 {
        self.prune(now);
        let p = self.policy;
        let mut wait = self.paused_until - now;
        if self.second.len() >= p.global_per_second {
            let oldest = self.second[self.second.len() - p.global_per_second];
            wait = wait.max(oldest + SECOND_MS - now);
        }
        if let Some(c) = self.chats.get(&chat_id) {
            wait = wait.max(c.paused_until - now);
            if let Some(last) = c.last_ms {
                wait = wait.max(last + p.per_chat_gap_ms - now);
            }
            if is_group(chat_id) && c.minute.len() >= p.group_per_minute {
                let oldest = c.minute[c.minute.len() - p.group_per_minute];
                wait = wait.max(oldest + MINUTE_MS - now);
            }
        }
        wait.max(0)
    }

    /// Grants and records a send to `chat_id` at `now`, or says how long to wait.
    pub fn acquire(&mut self, chat_id: i64, now: i64) -> Permit {
        match self.wait_ms(chat_id, now) {
            0 => {
                self.record(chat_id, now);
                Permit::Now
            }
            w => Permit::Wait(w),
        }
    }

    fn record(&mut self, chat_id: i64, now: i64) {
        self.second.push_back(now);
        let c = self.chats.entry(chat_id).or_default();
        c.last_ms = Some(now);
        if is_group(chat_id) {
            c.minute.push_back(now);
        }
    }

    /// Telegram answered `429` with `retry_after` seconds: hold this chat, and the bot as a
    /// whole (flood control may be bot-wide), until then.
    pub fn retry_after(&mut self, chat_id: i64, seconds: u64, now: i64) {
        let until = now.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX / 2) * 1000);
        self.paused_until = self.paused_until.max(until);
        let c = self.chats.entry(chat_id).or_default();
        c.paused_until = c.paused_until.max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_message_per_second_per_chat() {
        let mut l = RateLimiter::default();
        assert_eq!(l.acquire(7, 0), Permit::Now);
        assert_eq!(l.acquire(7, 400), Permit::Wait(600));
        assert_eq!(l.acquire(8, 400), Permit::Now, "other chats are not held");
        assert_eq!(l.acquire(7, 1_000), Permit::Now);
    }

    #[test]
    fn twenty_per_minute_per_group() {
        let mut l = RateLimiter::default();
        for i in 0..20 {
            assert_eq!(l.acquire(-100, i * 1_000), Permit::Now);
        }
        assert_eq!(l.acquire(-100, 20_000), Permit::Wait(40_000));
        assert_eq!(l.acquire(-100, 60_000), Permit::Now);
    }

    #[test]
    fn thirty_per_second_overall() {
        let mut l = RateLimiter::default();
        for chat in 0..30 {
            assert_eq!(l.acquire(chat, 10), Permit::Now);
        }
        assert_eq!(l.acquire(99, 500), Permit::Wait(510));
        assert_eq!(l.acquire(99, 1_010), Permit::Now);
    }

    #[test]
    fn retry_after_pauses_the_chat_and_the_bot() {
        let mut l = RateLimiter::default();
        l.retry_after(5, 3, 1_000);
        assert_eq!(l.acquire(5, 1_000), Permit::Wait(3_000));
        assert_eq!(l.acquire(6, 2_000), Permit::Wait(2_000));
        assert_eq!(l.acquire(5, 4_000), Permit::Now);
    }

    proptest! {
        /// Whatever the order and timing of requests, the sends granted never break a limit, and
        /// a wait, once served, is granted.
        #[test]
        fn granted_sends_respect_every_limit(steps in proptest::collection::vec((prop_oneof![Just(1i64), Just(2), Just(-1), Just(-2)], 0i64..1_500), 1..300)) {
            let p = Policy::default();
            let mut l = RateLimiter::new(p);
            let mut now = 0;
            let mut sent: Vec<(i64, i64)> = Vec::new();
            for (chat, dt) in steps {
                now += dt;
                match l.acquire(chat, now) {
                    Permit::Now => sent.push((chat, now)),
                    Permit::Wait(w) => {
                        prop_assert!(w > 0);
                        let mut probe = l.clone();
                        prop_assert_eq!(probe.acquire(chat, now + w), Permit::Now);
                    }
                }
            }
            for (i, &(chat, t)) in sent.iter().enumerate() {
                let same: Vec<i64> = sent[..i].iter().filter(|(c, _)| *c == chat).map(|(_, t)| *t).collect();
                if let Some(&prev) = same.last() {
                    prop_assert!(t - prev >= p.per_chat_gap_ms);
                }
                if is_group(chat) {
                    prop_assert!(same.iter().filter(|&&s| s > t - MINUTE_MS).count() < p.group_per_minute);
                }
                prop_assert!(sent[..i].iter().filter(|(_, s)| *s > t - SECOND_MS).count() < p.global_per_second);
            }
        }
    }
}
