//! Bot commands: what an allow-listed chat may ask for, parsed from a message's text.
//!
//! `/status`, `/kill_on`, `/kill_off`, `/trades [n]`, `/positions`, `/risk`, `/dlq`, `/daily [n]`,
//! `/weekly [n]`, `/monthly [n]`, `/profit`, `/help` (and `/start`). In group chats Telegram appends the bot's name (`/status@hoox_bot`); a command
//! addressed to another bot is not ours and parses to nothing.

/// Most trades `/trades` lists.
pub const MAX_TRADES: u32 = 20;
/// What `/trades` lists without an argument.
pub const DEFAULT_TRADES: u32 = 5;
/// Periods `/daily`, `/weekly`, `/monthly` show without an argument, and at most.
pub const DEFAULT_PERIODS: u32 = 7;
pub const MAX_PERIODS: u32 = 31;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    KillOn,
    KillOff,
    Trades {
        limit: u32,
    },
    Positions,
    /// The risk manager's rules, pauses and positions (agent-worker status).
    Risk,
    Dlq,
    /// `/daily [n]`, `/weekly [n]`, `/monthly [n]`: the last `n` periods' figures.
    Report {
        kind: report::Kind,
        periods: u32,
    },
    /// `/profit`: every closed position.
    Profit,
    Help,
    /// A command hoox does not know (answered with the help text).
    Unknown(String),
}

impl Command {
    /// Commands that change something (audit-logged).
    pub fn is_mutating(&self) -> bool {
        matches!(self, Self::KillOn | Self::KillOff)
    }

    /// Whether a sender may run this command in an allow-listed chat: reading needs only the
    /// chat; a command that changes state also needs the sender's user id in
    /// `telegram:allowed_user_ids` (a chat can hold people who should not stop trading).
    pub fn permitted(&self, sender: Option<i64>, allowed_users: &[i64]) -> bool {
        !self.is_mutating() || sender.is_some_and(|id| allowed_users.contains(&id))
    }
}

/// The command in `text`, if it is one for this bot. `bot_username` (without `@`) is this bot's
/// name when known; without it, any `@name` suffix is accepted.
pub fn parse(text: &str, bot_username: Option<&str>) -> Option<Command> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    let mut words = rest.split_whitespace();
    let head = words.next()?;
    let (name, addressee) = match head.split_once('@') {
        Some((n, a)) => (n, Some(a)),
        None => (head, None),
    };
    if let (Some(to), Some(me)) = (addressee, bot_username) {
        if !to.eq_ignore_ascii_case(me.trim_start_matches('@')) {
            return None;
        }
    }
    let name = name.to_ascii_lowercase();
    Some(match name.as_str() {
        "status" => Command::Status,
        "kill_on" | "killon" => Command::KillOn,
        "kill_off" | "killoff" => Command::KillOff,
        "trades" => Command::Trades {
            limit: words
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(DEFAULT_TRADES)
                .clamp(1, MAX_TRADES),
        },
        "positions" => Command::Positions,
        "risk" => Command::Risk,
        "dlq" => Command::Dlq,
        "daily" | "weekly" | "monthly" => Command::Report {
            kind: report::Kind::parse(&name).unwrap_or(report::Kind::Daily),
            periods: words
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(DEFAULT_PERIODS)
                .clamp(1, MAX_PERIODS),
        },
        "profit" => Command::Profit,
        "help" | "start" => Command::Help,
        "" => return None,
        other => Command::Unknown(other.chars().take(32).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changes_need_an_allowed_user_reads_do_not() {
        for cmd in [Command::KillOn, Command::KillOff] {
            assert!(cmd.permitted(Some(55), &[55, 56]));
            assert!(!cmd.permitted(Some(57), &[55, 56]), "{cmd:?}");
            assert!(!cmd.permitted(None, &[55]), "an update without a sender");
            assert!(!cmd.permitted(Some(55), &[]), "no user allowed by default");
        }
        for cmd in [Command::Status, Command::Trades { limit: 5 }, Command::Help] {
            assert!(cmd.permitted(None, &[]), "{cmd:?}");
        }
    }
    use proptest::prelude::*;

    #[test]
    fn commands_parse_with_and_without_the_bot_name() {
        assert_eq!(parse("/status", None), Some(Command::Status));
        assert_eq!(
            parse("  /STATUS@Hoox_Bot ", Some("hoox_bot")),
            Some(Command::Status)
        );
        assert_eq!(parse("/status@other_bot", Some("hoox_bot")), None);
        assert_eq!(parse("/kill_on", None), Some(Command::KillOn));
        assert_eq!(parse("/kill_off", None), Some(Command::KillOff));
        assert_eq!(parse("/trades", None), Some(Command::Trades { limit: 5 }));
        assert_eq!(
            parse("/trades 12", None),
            Some(Command::Trades { limit: 12 })
        );
        assert_eq!(
            parse("/trades 999", None),
            Some(Command::Trades { limit: 20 })
        );
        assert_eq!(parse("/positions", None), Some(Command::Positions));
        assert_eq!(parse("/dlq", None), Some(Command::Dlq));
        assert_eq!(parse("/risk", None), Some(Command::Risk));
        assert!(!Command::Risk.is_mutating());
        assert_eq!(
            parse("/weekly 3", None),
            Some(Command::Report {
                kind: report::Kind::Weekly,
                periods: 3
            })
        );
        assert_eq!(
            parse("/daily", None),
            Some(Command::Report {
                kind: report::Kind::Daily,
                periods: 7
            })
        );
        assert_eq!(
            parse("/monthly 99", None),
            Some(Command::Report {
                kind: report::Kind::Monthly,
                periods: 31
            })
        );
        assert_eq!(parse("/profit", None), Some(Command::Profit));
        assert_eq!(parse("/start", None), Some(Command::Help));
        assert_eq!(parse("/nope", None), Some(Command::Unknown("nope".into())));
        assert_eq!(parse("status", None), None);
        assert_eq!(parse("/", None), None);
        assert!(Command::KillOn.is_mutating() && !Command::Status.is_mutating());
    }

    proptest! {
        #[test]
        fn any_text_parses_without_panicking(text in ".{0,200}") {
            let _ = parse(&text, Some("hoox_bot"));
        }
    }
}
