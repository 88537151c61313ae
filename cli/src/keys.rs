//! Where the CLI finds its keys: `HOOX_INTERNAL_KEY` and `HOOX_WEBHOOK_KEY`, else `.dev.vars`
//! in the current directory (`INTERNAL_KEY_BINDING`, `WEBHOOK_API_KEY`, as `cargo xtask dev`
//! writes them). Never from a flag.

use crate::CliError;
use std::path::Path;

pub const INTERNAL_ENV: &str = "HOOX_INTERNAL_KEY";
pub const WEBHOOK_ENV: &str = "HOOX_WEBHOOK_KEY";
pub const DEV_VARS: &str = ".dev.vars";

/// `KEY=value` lines of a `.dev.vars` file: the one parser xtask and the harness use too.
pub use registry::dev_vars::parse as parse_dev_vars;

/// Which key to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `X-Internal-Auth-Key` for operator routes.
    Internal,
    /// The webhook sender key, for `hoox signal send`.
    Webhook,
}

impl Key {
    fn env(self) -> &'static str {
        match self {
            Self::Internal => INTERNAL_ENV,
            Self::Webhook => WEBHOOK_ENV,
        }
    }

    fn dev_var(self) -> &'static str {
        match self {
            Self::Internal => "INTERNAL_KEY_BINDING",
            Self::Webhook => "WEBHOOK_API_KEY",
        }
    }
}

/// The key from the environment (through `env`), else from `dir/.dev.vars`.
pub fn find(
    key: Key,
    env: impl Fn(&str) -> Option<String>,
    dir: &Path,
) -> Result<String, CliError> {
    if let Some(v) = env(key.env()).filter(|v| !v.trim().is_empty()) {
        return Ok(v.trim().to_owned());
    }
    let from_file = std::fs::read_to_string(dir.join(DEV_VARS))
        .ok()
        .and_then(|t| {
            parse_dev_vars(&t)
                .into_iter()
                .find(|(k, _)| k == key.dev_var())
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_empty());
    from_file.ok_or_else(|| {
        CliError::MissingKey(format!(
            "set {} (or run from a directory whose .dev.vars has {})",
            key.env(),
            key.dev_var()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_vars_parse_like_wrangler_writes_them() {
        let v = parse_dev_vars("# local\nA=1\n\nB = \"two\" \nnot a pair\nC=x=y\n");
        assert_eq!(
            v,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two".into()),
                ("C".into(), "x=y".into())
            ]
        );
    }

    #[test]
    fn environment_wins_then_dev_vars_then_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("hoox-cli-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(DEV_VARS), "INTERNAL_KEY_BINDING=fromfile\n").unwrap();
        let none = |_: &str| None;
        let some = |k: &str| (k == INTERNAL_ENV).then(|| "fromenv".to_owned());
        assert_eq!(find(Key::Internal, some, &dir).unwrap(), "fromenv");
        assert_eq!(find(Key::Internal, none, &dir).unwrap(), "fromfile");
        let err = find(Key::Webhook, none, &dir).unwrap_err();
        assert!(err.to_string().contains(WEBHOOK_ENV));
        assert_eq!(err.exit_code(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
