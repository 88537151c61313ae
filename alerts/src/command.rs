//! Bot commands: what an allow-listed chat may ask for, parsed from a message's text.
//!
//! `/status`, `/kill_on`, `/kill_off`, `/trades [n]`, `/positions`, `/dlq`, `/help` (and
//! `/start`). In group chats Telegram appends the bot's name (`/status@hoox_bot`); a command
//! addressed to another bot is not ours and parses to nothing.

/// Most trades `/trades` lists.
pub const MAX_TRADES: u32 = 20;
/// What `/trades` lists without an argument.
pub const DEFAULT_TRADES: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    KillOn,
    KillOff,
    Trades {
        limit: u32,
    },
    Positions,
    Dlq,
    Help,
    /// A command hoox does not know (answered with the help text).
    Unknown(String),
}

impl Command {
    /// Commands that change something (audit-logged).
    pub fn is_mutating(&self) -> bool {
        matches!(self, Self::KillOn | Self::KillOff)
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
        "dlq" => Command::Dlq,
        "help" | "start" => Command::Help,
        "" => return None,
        other => Command::Unknown(other.chars().take(32).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
