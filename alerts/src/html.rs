//! Telegram's HTML: escaping what hoox did not write, and splitting long messages.
//!
//! With `parse_mode=HTML`, any `<`, `>` or `&` in text from outside (an exchange's error message,
//! a symbol, an idempotency key) must be escaped or Telegram refuses the whole message. A message
//! may hold at most 4096 characters; [`split`] cuts longer ones at line ends where it can, closes
//! the tags open at a cut and reopens them in the next part, so every part is valid on its own.
//!
//! Hand-written because no crate splits Telegram's HTML subset: a cut must not fall inside a
//! tag or an entity, must count UTF-16 code units as Telegram does, and must re-open the tags it
//! closed; the escaping is three characters.

/// Telegram's limit on one message's text.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Escapes text for `parse_mode=HTML`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Length as Telegram counts it (UTF-16 code units), measured on the raw markup, which is never
/// shorter than the text Telegram shows.
pub fn len16(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'a> {
    Open {
        name: &'a str,
        raw: &'a str,
    },
    Close {
        raw: &'a str,
    },
    /// An entity or one character.
    Text(&'a str),
    Newline,
}

impl Tok<'_> {
    fn raw(&self) -> &str {
        match self {
            Tok::Open { raw, .. } | Tok::Close { raw } | Tok::Text(raw) => raw,
            Tok::Newline => "\n",
        }
    }
}

fn tokenize(s: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let c = rest.chars().next().unwrap_or('\0');
        let len = c.len_utf8();
        if c == '<' {
            if let Some(end) = rest.find('>') {
                let raw = &rest[..=end];
                if raw.starts_with("</") {
                    out.push(Tok::Close { raw });
                } else {
                    let name_end = raw[1..]
                        .find(|ch: char| !ch.is_ascii_alphanumeric() && ch != '-')
                        .map_or(raw.len() - 1, |p| p + 1);
                    out.push(Tok::Open {
                        name: &raw[1..name_end],
                        raw,
                    });
                }
                i += raw.len();
                continue;
            }
        }
        if c == '&' {
            let name_len = rest[1..]
                .bytes()
                .take(10)
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'#')
                .count();
            if name_len > 0 && rest.as_bytes().get(name_len + 1) == Some(&b';') {
                out.push(Tok::Text(&rest[..name_len + 2]));
                i += name_len + 2;
                continue;
            }
        }
        out.push(if c == '\n' {
            Tok::Newline
        } else {
            Tok::Text(&rest[..len])
        });
        i += len;
    }
    out
}

/// Open tags (name, raw opening) after `toks`, starting from `stack`.
fn apply<'a>(stack: &mut Vec<(&'a str, &'a str)>, tok: &Tok<'a>) {
    match tok {
        Tok::Open { name, raw } => stack.push((name, raw)),
        Tok::Close { .. } => {
            stack.pop();
        }
        _ => {}
    }
}

fn closes_len(stack: &[(&str, &str)]) -> usize {
    stack.iter().map(|(name, _)| name.len() + 3).sum()
}

fn render(prefix: &[(&str, &str)], toks: &[Tok<'_>]) -> String {
    let mut out: String = prefix.iter().map(|(_, raw)| *raw).collect();
    let mut stack = prefix.to_vec();
    for t in toks {
        out.push_str(t.raw());
        apply(&mut stack, t);
    }
    for (name, _) in stack.iter().rev() {
        out.push_str(&format!("</{name}>"));
    }
    out
}

/// Cuts HTML text into parts of at most `limit` UTF-16 units, at the last line end that fits,
/// else between characters (never inside a tag or an entity). Tags open at a cut are closed at
/// its end and reopened in the next part. The line end a cut falls on is dropped.
///
/// Assumes tags nest shallowly (hoox's formatter uses at most two levels); `limit` should be at
/// least a few hundred.
pub fn split(text: &str, limit: usize) -> Vec<String> {
    if len16(text) <= limit {
        return vec![text.to_owned()];
    }
    let toks = tokenize(text);
    let mut parts = Vec::new();
    // Tags open at the start of the current part.
    let mut prefix: Vec<(&str, &str)> = Vec::new();
    let mut cur: Vec<Tok<'_>> = Vec::new();
    // State after `cur`: open tags and raw length.
    let mut stack: Vec<(&str, &str)> = Vec::new();
    let mut cur_len = 0usize;
    let prefix_len = |p: &[(&str, &str)]| p.iter().map(|(_, raw)| len16(raw)).sum::<usize>();
    let mut i = 0;
    while i < toks.len() {
        let tok = toks[i].clone();
        let mut after = stack.clone();
        apply(&mut after, &tok);
        let fits = prefix_len(&prefix) + cur_len + len16(tok.raw()) + closes_len(&after) <= limit;
        if fits || cur.is_empty() {
            cur_len += len16(tok.raw());
            stack = after;
            cur.push(tok);
            i += 1;
            continue;
        }
        // Cut at the last line end of this part, else right here.
        let cut = cur
            .iter()
            .rposition(|t| *t == Tok::Newline)
            .filter(|&p| p > 0)
            .unwrap_or(cur.len());
        parts.push(render(&prefix, &cur[..cut]));
        let mut next_prefix = prefix.clone();
        for t in &cur[..cut] {
            apply(&mut next_prefix, t);
        }
        let rest: Vec<Tok<'_>> = cur[cut..]
            .iter()
            .skip_while(|t| **t == Tok::Newline)
            .cloned()
            .collect();
        prefix = next_prefix;
        stack = prefix.clone();
        cur_len = 0;
        for t in &rest {
            cur_len += len16(t.raw());
            apply(&mut stack, t);
        }
        cur = rest;
    }
    if !cur.is_empty() {
        parts.push(render(&prefix, &cur));
    }
    parts
}

/// The text a reader sees: tags removed, entities decoded.
pub fn visible(html: &str) -> String {
    tokenize(html)
        .into_iter()
        .filter_map(|t| match t {
            Tok::Text(raw) => Some(match raw {
                "&amp;" => "&".to_owned(),
                "&lt;" => "<".to_owned(),
                "&gt;" => ">".to_owned(),
                "&quot;" => "\"".to_owned(),
                other => other.to_owned(),
            }),
            Tok::Newline => Some("\n".to_owned()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn balanced(part: &str) -> bool {
        let mut stack = Vec::new();
        for t in tokenize(part) {
            match t {
                Tok::Open { name, .. } => stack.push(name.to_owned()),
                Tok::Close { raw } if stack.pop().as_deref() != Some(&raw[2..raw.len() - 1]) => {
                    return false;
                }
                _ => {}
            }
        }
        stack.is_empty()
    }

    #[test]
    fn escapes_markup_characters() {
        assert_eq!(
            escape(r#"<b>"x" & y</b>"#),
            "&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;"
        );
        assert_eq!(visible(&escape("a<b>&c")), "a<b>&c");
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split("<b>hi</b>", 4096), vec!["<b>hi</b>".to_owned()]);
    }

    #[test]
    fn long_text_is_cut_at_line_ends() {
        let line = format!("<b>{}</b>", "x".repeat(90));
        let text = vec![line.clone(); 100].join("\n");
        let parts = split(&text, 1000);
        assert!(parts.len() > 1);
        for p in &parts {
            assert!(len16(p) <= 1000);
            assert!(p.starts_with("<b>") && p.ends_with("</b>"), "{p}");
            assert!(!p.starts_with('\n'));
        }
        assert_eq!(parts.concat().matches(&line).count(), 100);
    }

    #[test]
    fn a_tag_open_across_a_cut_is_closed_and_reopened() {
        let text = format!("<pre>{}</pre>", "y".repeat(500));
        let parts = split(&text, 120);
        assert!(parts.len() >= 5);
        for p in &parts {
            assert!(p.starts_with("<pre>") && p.ends_with("</pre>"), "{p}");
            assert!(len16(p) <= 120);
        }
    }

    #[test]
    fn entities_and_astral_characters_are_never_cut() {
        let text = "&amp;😀".repeat(300);
        for p in split(&text, 100) {
            assert!(len16(&p) <= 100);
            assert_eq!(visible(&p).replace("&😀", ""), "");
        }
    }

    fn arb_html() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[a-z ]{1,30}".prop_map(|s| s),
            Just("\n".to_owned()),
            "[a-z<>&\"]{1,10}".prop_map(|s| escape(&s)),
            "[a-zé😀]{1,10}".prop_map(|s| format!("<b>{s}</b>")),
            "[a-z\n]{1,40}".prop_map(|s| format!("<i>x<code>{s}</code></i>")),
            "[a-z]{1,400}".prop_map(|s| format!("<pre>{s}</pre>")),
        ];
        proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
    }

    proptest! {
        /// Every part fits, is balanced, and together they show exactly the original text, less
        /// the line ends the cuts fell on.
        #[test]
        fn parts_fit_balance_and_keep_the_text(text in arb_html(), limit in 64usize..600) {
            let parts = split(&text, limit);
            for p in &parts {
                prop_assert!(len16(p) <= limit, "{} > {}: {:?}", len16(p), limit, p);
                prop_assert!(balanced(p), "unbalanced: {:?}", p);
            }
            let shown: String = parts.iter().map(|p| visible(p)).collect::<String>().replace('\n', "");
            prop_assert_eq!(shown, visible(&text).replace('\n', ""));
        }
    }
}
