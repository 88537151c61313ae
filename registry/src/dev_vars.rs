//! `.dev.vars`, the local secrets file wrangler reads beside a config: one parser for xtask, the
//! integration harness and the CLI. Dotenv lines as wrangler writes and reads them: `KEY=value`,
//! `#` comments and blank lines skipped, whitespace around key and value trimmed, one pair of
//! surrounding double quotes removed. Hand-written: a dozen lines, and a dotenv crate would be
//! a dependency of the wasm workers' registry for the tools' sake.

/// The `(name, value)` pairs of a `.dev.vars` text, in file order.
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (k.trim().to_owned(), v.to_owned())
        })
        .collect()
}

/// The value of `name` in a `.dev.vars` text (the last one, as dotenv reads repeats).
pub fn get(text: &str, name: &str) -> Option<String> {
    parse(text)
        .into_iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// A `.dev.vars` text holding exactly `pairs`, under a comment line.
pub fn render(comment: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = format!("# {comment}\n");
    for (k, v) in pairs {
        out.push_str(&format!("{k}={v}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_wrangler_writes() {
        let v = parse("# local\nA=1\n\nB = \"two\" \nnot a pair\nC=x=y\n");
        assert_eq!(
            v,
            [("A", "1"), ("B", "two"), ("C", "x=y")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(get("A=1\nA=2\n", "A").as_deref(), Some("2"));
        assert_eq!(get("A=1\n", "B"), None);
        let text = render("generated", &[("K", "v"), ("L", "w")]);
        assert_eq!(text, "# generated\nK=v\nL=w\n");
        assert_eq!(parse(&text).len(), 2);
    }
}
