//! Wrangler configs are JSONC: JSON with `//` and `/* */` comments.

/// Removes `//` and `/* */` comments from JSONC, leaving strings (URLs included) intact.
pub fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Parses a JSONC text into a JSON value.
pub fn parse(text: &str) -> serde_json::Result<serde_json::Value> {
    serde_json::from_str(&strip(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_go_and_strings_stay() {
        let text = r#"// header
{
  "url": "https://api.bybit.com", // a URL holds `//`
  /* block
     comment */ "quote": "a \"//\" b",
  "n": 1
}"#;
        let v = parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["url"], "https://api.bybit.com");
        assert_eq!(v["quote"], "a \"//\" b");
        assert_eq!(v["n"], 1);
    }

    #[test]
    fn every_worker_config_parses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for config in crate::deploy::CONFIGS {
            let text = std::fs::read_to_string(root.join(config))
                .unwrap_or_else(|e| panic!("{config}: {e}"));
            let v = parse(&text).unwrap_or_else(|e| panic!("{config}: {e}"));
            assert!(v["name"].is_string(), "{config} names its worker");
        }
    }
}
