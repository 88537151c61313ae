//! Wrangler configs are JSONC: JSON with `//` and `/* */` comments and trailing commas. Read with
//! `jsonc-parser` into `serde_json` values, and edited with its concrete syntax tree, so an edit
//! (the deploy's id rewrites) changes one value and keeps every comment and the layout.

use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use jsonc_parser::ParseOptions;

pub use jsonc_parser::errors::ParseError;

/// Parses a JSONC text into a JSON value.
pub fn parse(text: &str) -> Result<serde_json::Value, ParseError> {
    jsonc_parser::parse_to_serde_value(text, &ParseOptions::default())
}

/// In the top-level array `list`, sets `field` to `new` in the element whose `key` is `value`
/// (`kv_namespaces`, `binding` = `CONFIG_KV`, `id`): the text with that one string changed, and
/// `None` when no such element has that field.
pub fn set_in_list(
    text: &str,
    list: &str,
    (key, value): (&str, &str),
    field: &str,
    new: &str,
) -> Result<Option<String>, ParseError> {
    let root = CstRootNode::parse(text, &ParseOptions::default())?;
    let string_of = |o: &CstObject, name: &str| {
        o.get(name)
            .and_then(|p| p.value())
            .and_then(|v| v.as_string_lit())
            .and_then(|s| s.decoded_value().ok())
    };
    let element = root
        .object_value()
        .and_then(|o| o.array_value(list))
        .into_iter()
        .flat_map(|a| a.elements())
        .filter_map(|e| e.as_object())
        .find(|o| string_of(o, key).as_deref() == Some(value));
    let Some(prop) = element.and_then(|o| o.get(field)) else {
        return Ok(None);
    };
    prop.set_value(CstInputValue::String(new.to_owned()));
    Ok(Some(root.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_trailing_commas_go_and_strings_stay() {
        let text = r#"// header
{
  "url": "https://api.bybit.com", // a URL holds `//`
  /* block
     comment */ "quote": "a \"//\" b",
  "list": [1, 2,],
  "n": 1,
}"#;
        let v = parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["url"], "https://api.bybit.com");
        assert_eq!(v["quote"], "a \"//\" b");
        assert_eq!(v["list"], serde_json::json!([1, 2]));
        assert_eq!(v["n"], 1);
    }

    #[test]
    fn an_edit_changes_one_value_and_keeps_the_rest() {
        let text = r#"{
  // the config store
  "kv_namespaces": [
    { "binding": "CONFIG_KV", "id": "same" }, // ours
    { "binding": "SESSIONS_KV", "id": "same" },
  ],
  "note": "\"same\"",
}"#;
        let out = set_in_list(
            text,
            "kv_namespaces",
            ("binding", "SESSIONS_KV"),
            "id",
            "abc",
        )
        .unwrap()
        .unwrap();
        let v = parse(&out).unwrap();
        assert_eq!(v["kv_namespaces"][0]["id"], "same");
        assert_eq!(v["kv_namespaces"][1]["id"], "abc");
        assert_eq!(v["note"], "\"same\"");
        assert!(out.contains("// the config store") && out.contains("// ours"));
        assert_eq!(
            set_in_list(text, "kv_namespaces", ("binding", "NONE"), "id", "x").unwrap(),
            None
        );
    }

    #[test]
    fn every_worker_config_parses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for d in registry::DEPLOYABLES {
            let text = std::fs::read_to_string(root.join(d.config))
                .unwrap_or_else(|e| panic!("{}: {e}", d.config));
            let v = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", d.config));
            assert_eq!(v["name"], d.worker, "{} names its worker", d.config);
        }
    }
}
