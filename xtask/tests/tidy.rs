//! The tidy test (in the style of rust-analyzer's): a plain `#[test]` that reads the source tree
//! and enforces the rules no compiler checks, so `cargo test` and `cargo xtask test` fail on a
//! breach. Each failure names `file:line` and the rule.
//!
//! The rules:
//! - `module-doc`: every `*.rs` file opens with a `//!` paragraph saying what it is.
//! - `pure-crate`: the pure crates ([`PURE`]) never depend on `worker`, directly, under another
//!   key (`package = "worker"`, through `[workspace.dependencies]`) or through another workspace
//!   crate that does (such as `runtime`).
//! - `sql-owner`: SQL text appears only where it is owned: `ops/` builds every D1 statement
//!   (callers never send SQL), `gateway/src/store.rs` is the idempotency Durable Object's own
//!   SQLite, `migrations/` holds the schema (not Rust), and `tests/` reads the ledger to assert what
//!   the workers wrote. The D1 glue (`runtime/src/d1.rs`) runs what `ops` built and holds none.
//! - `no-panic-on-request`: no `.unwrap()` / `.expect(..)` in the worker crates' code
//!   ([`WORKERS`], `src/` only, `#[cfg(test)]` and `#[test]` items excluded): a panic there aborts
//!   the isolate mid-request.
//!
//! Rust files are read with `syn`, so comments and doc text never count as SQL or calls, and
//! string literals inside macro calls (`format!`, `json!`) are still seen.

use proc_macro2::{TokenStream, TokenTree};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// Crates whose logic is pure: tested natively, no Workers SDK.
const PURE: &[&str] = &[
    "contracts",
    "exchanges",
    "engine",
    "ops",
    "alerts",
    "registry",
    "risk",
    "report",
    "email",
    "console",
];

/// Crates that run on the Workers runtime and serve requests.
const WORKERS: &[&str] = &[
    "gateway",
    "consumers",
    "dlq",
    "telegram",
    "d1-worker",
    "report-worker",
    "agent-worker",
    "dashboard",
    "email-worker",
    "runtime",
];

/// Where SQL may be written (paths relative to the repository root, `/`-separated).
const SQL_OWNERS: &[&str] = &["ops/", "gateway/src/store.rs", "migrations/", "tests/"];

/// Files whose SQL is text about SQL: the tidy test's own examples.
const SQL_EXAMPLES: &[&str] = &["xtask/tests/tidy.rs"];

/// Directories never read.
const SKIP_DIRS: &[&str] = &["target", "build", "node_modules", ".git", ".state"];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    file: PathBuf,
    line: usize,
    rule: &'static str,
    detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: [{}] {}",
            self.file.display(),
            self.line,
            self.rule,
            self.detail
        )
    }
}

fn violation(file: &Path, line: usize, rule: &'static str, detail: String) -> Violation {
    Violation {
        file: file.to_path_buf(),
        line,
        rule,
        detail,
    }
}

// ---------------------------------------------------------------------------------------------
// module-doc

fn check_module_doc(file: &Path, text: &str) -> Option<Violation> {
    let first = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty());
    match first {
        Some((_, l)) if l.trim_start().starts_with("//!") && l.trim_start()[3..].trim() != "" => {
            None
        }
        Some((i, _)) => Some(violation(
            file,
            i + 1,
            "module-doc",
            "the file must open with a `//!` paragraph saying what the module is and why".into(),
        )),
        None => Some(violation(
            file,
            1,
            "module-doc",
            "empty file: it must open with a `//!` paragraph".into(),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// sql-owner

/// Whether a string literal's text is SQL: a statement keyword followed by what that statement
/// needs (`UPDATE t SET`, `DELETE FROM`, ...). Upper case only, as the tree writes SQL.
fn looks_like_sql(s: &str) -> Option<&'static str> {
    let words: Vec<&str> = s
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '*'))
        .filter(|w| !w.is_empty())
        .collect();
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or("");
        let after = words.get(i + 2).copied().unwrap_or("");
        let hit = match *w {
            "SELECT" if words[i + 1..].contains(&"FROM") => Some("SELECT … FROM"),
            "INSERT" if next == "INTO" => Some("INSERT INTO"),
            "DELETE" if next == "FROM" => Some("DELETE FROM"),
            "UPDATE" if after == "SET" => Some("UPDATE … SET"),
            "CREATE" | "ALTER" | "DROP" if next == "TABLE" || next == "INDEX" => Some("DDL"),
            _ => None,
        };
        if hit.is_some() {
            return hit;
        }
    }
    None
}

struct SqlVisitor<'a> {
    file: &'a Path,
    found: Vec<Violation>,
}

impl SqlVisitor<'_> {
    fn literal(&mut self, value: &str, line: usize) {
        if let Some(what) = looks_like_sql(value) {
            self.found.push(violation(
                self.file,
                line,
                "sql-owner",
                format!(
                    "SQL ({what}) outside the crates that own it ({}): build statements in `ops`",
                    SQL_OWNERS.join(", ")
                ),
            ));
        }
    }

    fn tokens(&mut self, tokens: TokenStream) {
        for tt in tokens {
            match tt {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Literal(lit) => {
                    let line = lit.span().start().line;
                    if let Ok(s) = syn::parse_str::<syn::LitStr>(&lit.to_string()) {
                        self.literal(&s.value(), line);
                    }
                }
                _ => {}
            }
        }
    }
}

impl<'ast> Visit<'ast> for SqlVisitor<'_> {
    fn visit_lit_str(&mut self, lit: &'ast syn::LitStr) {
        self.literal(&lit.value(), lit.span().start().line);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
    }

    // Doc comments are `#[doc = "..."]` attributes: prose, not SQL.
    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}
}

fn check_sql(file: &Path, ast: &syn::File) -> Vec<Violation> {
    let mut v = SqlVisitor {
        file,
        found: Vec::new(),
    };
    v.visit_file(ast);
    v.found
}

// ---------------------------------------------------------------------------------------------
// no-panic-on-request

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        if a.path().is_ident("test") {
            return true;
        }
        if !a.path().is_ident("cfg") {
            return false;
        }
        // `cfg(test)` and any `cfg(all(test, ..))`; a `cfg(not(test))` item is production code.
        let text = match &a.meta {
            syn::Meta::List(l) => l.tokens.to_string(),
            _ => String::new(),
        };
        text.split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|w| w == "test")
            && !text.contains("not")
    })
}

struct PanicVisitor<'a> {
    file: &'a Path,
    found: Vec<Violation>,
}

impl PanicVisitor<'_> {
    /// Macro bodies that are comma-separated expressions (`format!`, `vec!`, `assert!`, ...)
    /// are visited like code; others (`json!`, `matches!`) are skipped.
    fn macro_body(&mut self, mac: &syn::Macro) {
        use syn::punctuated::Punctuated;
        if let Ok(exprs) =
            mac.parse_body_with(Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated)
        {
            for e in &exprs {
                self.visit_expr(e);
            }
        }
    }
}

impl<'ast> Visit<'ast> for PanicVisitor<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Fn(i) => &i.attrs,
            syn::Item::Mod(i) => &i.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Const(i) => &i.attrs,
            syn::Item::Static(i) => &i.attrs,
            syn::Item::Struct(i) => &i.attrs,
            syn::Item::Enum(i) => &i.attrs,
            syn::Item::Trait(i) => &i.attrs,
            syn::Item::Use(i) => &i.attrs,
            syn::Item::Macro(i) => &i.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if !is_test_only(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_impl_item_fn(self, f);
        }
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let name = call.method.to_string();
        if name == "unwrap" || name == "expect" {
            self.found.push(violation(
                self.file,
                call.method.span().start().line,
                "no-panic-on-request",
                format!(
                    "`.{name}()` in a worker's request path: a panic aborts the isolate; \
                     return a typed error (or move the code under #[cfg(test)])"
                ),
            ));
        }
        syn::visit::visit_expr_method_call(self, call);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.macro_body(mac);
    }
}

fn check_panics(file: &Path, ast: &syn::File) -> Vec<Violation> {
    let mut v = PanicVisitor {
        file,
        found: Vec::new(),
    };
    v.visit_file(ast);
    v.found
}

// ---------------------------------------------------------------------------------------------
// pure-crate

/// One dependency line of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dep {
    /// The key it is declared under.
    key: String,
    /// The package it names (`package = "..."`, else the key).
    package: Option<String>,
    path: Option<String>,
    workspace: bool,
    line: usize,
}

/// The dependency tables of a manifest (`[dependencies]`, `[dev-dependencies]`,
/// `[build-dependencies]`, their `[target.'…'.*]` forms, `[dependencies.<key>]` tables), or the
/// root's `[workspace.dependencies]` when `workspace_table` is set. Line-based: the tree's
/// manifests write one dependency a line.
fn manifest_deps(text: &str, workspace_table: bool) -> Vec<Dep> {
    let mut deps: Vec<Dep> = Vec::new();
    let mut in_table = false;
    let mut sub: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            let header = line.trim_matches(|c| c == '[' || c == ']').trim();
            let tables: &[&str] = if workspace_table {
                &["workspace.dependencies"]
            } else {
                &["dependencies", "dev-dependencies", "build-dependencies"]
            };
            let base = if header.starts_with("target.") {
                header.rsplit_once("'.").map_or(header, |(_, t)| t)
            } else {
                header
            };
            in_table = tables.contains(&base);
            sub = None;
            for t in tables {
                if let Some(key) = base.strip_prefix(&format!("{t}.")) {
                    deps.push(Dep {
                        key: key.trim().to_owned(),
                        package: None,
                        path: None,
                        workspace: false,
                        line: i + 1,
                    });
                    sub = Some(deps.len() - 1);
                }
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if let Some(at) = sub {
            let d = &mut deps[at];
            match k {
                "package" => d.package = Some(unquote(v)),
                "path" => d.path = Some(unquote(v)),
                "workspace" => d.workspace = v == "true",
                _ => {}
            }
            continue;
        }
        if !in_table {
            continue;
        }
        let (key, dotted) = k.split_once('.').unwrap_or((k, ""));
        let mut d = Dep {
            key: key.trim().to_owned(),
            package: None,
            path: None,
            workspace: dotted.trim() == "workspace" && v == "true",
            line: i + 1,
        };
        if v.starts_with('{') {
            d.package = inline_field(v, "package");
            d.path = inline_field(v, "path");
            d.workspace |= inline_field(v, "workspace").as_deref() == Some("true");
        }
        deps.push(d);
    }
    deps
}

fn unquote(v: &str) -> String {
    v.trim().trim_matches('"').to_owned()
}

/// `field = value` inside an inline table `{ ... }`.
fn inline_field(table: &str, field: &str) -> Option<String> {
    table
        .trim_matches(|c| c == '{' || c == '}')
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim() == field)
        .map(|(_, v)| unquote(v))
}

/// What a dependency resolves to: a workspace crate (by directory) or an outside package.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Member(String),
    Package(String),
}

fn resolve(dep: &Dep, from_dir: &str, workspace: &[Dep]) -> Target {
    let (package, path) = if dep.workspace {
        match workspace.iter().find(|w| w.key == dep.key) {
            Some(w) => (
                dep.package.clone().or(w.package.clone()),
                w.path.clone().map(|p| ("", p)),
            ),
            None => (dep.package.clone(), None),
        }
    } else {
        (dep.package.clone(), dep.path.clone().map(|p| (from_dir, p)))
    };
    if let Some((base, p)) = path {
        let joined = Path::new(base).join(p);
        let mut parts: Vec<String> = Vec::new();
        for c in joined.components() {
            match c {
                std::path::Component::ParentDir => {
                    parts.pop();
                }
                std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                _ => {}
            }
        }
        return Target::Member(parts.join("/"));
    }
    Target::Package(package.unwrap_or_else(|| dep.key.clone()))
}

/// The chain from `member` to `worker`, if any (`["runtime", "worker"]`).
fn worker_chain(
    member: &str,
    manifests: &BTreeMap<String, String>,
    workspace: &[Dep],
    seen: &mut Vec<String>,
) -> Option<Vec<String>> {
    if seen.iter().any(|s| s == member) {
        return None;
    }
    seen.push(member.to_owned());
    let text = manifests.get(member)?;
    for dep in manifest_deps(text, false) {
        match resolve(&dep, member, workspace) {
            Target::Package(p) if p == "worker" => return Some(vec!["worker".into()]),
            Target::Package(_) => {}
            Target::Member(m) => {
                if let Some(mut chain) = worker_chain(&m, manifests, workspace, seen) {
                    chain.insert(0, m);
                    return Some(chain);
                }
            }
        }
    }
    None
}

/// `manifests`: workspace member directory → its `Cargo.toml`; `root`: the root manifest.
fn check_pure_crates(root: &str, manifests: &BTreeMap<String, String>) -> Vec<Violation> {
    let workspace = manifest_deps(root, true);
    let mut found = Vec::new();
    for pure in PURE {
        let Some(text) = manifests.get(*pure) else {
            continue;
        };
        let file = PathBuf::from(pure).join("Cargo.toml");
        for dep in manifest_deps(text, false) {
            let chain = match resolve(&dep, pure, &workspace) {
                Target::Package(p) if p == "worker" => Some(vec!["worker".to_owned()]),
                Target::Package(_) => None,
                Target::Member(m) => {
                    let mut seen = vec![(*pure).to_owned()];
                    worker_chain(&m, manifests, &workspace, &mut seen).map(|mut c| {
                        c.insert(0, m);
                        c
                    })
                }
            };
            if let Some(chain) = chain {
                found.push(violation(
                    &file,
                    dep.line,
                    "pure-crate",
                    format!(
                        "`{pure}` is a pure crate and must not depend on `worker`: \
                         `{}` makes {pure} → {}",
                        dep.key,
                        chain.join(" → ")
                    ),
                ));
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// The tree

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the repository root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !SKIP_DIRS.contains(&name.as_str()) {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn rel(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

fn slash(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

fn members(root_manifest: &str) -> Vec<String> {
    let Some(start) = root_manifest.find("members") else {
        return Vec::new();
    };
    let rest = &root_manifest[start..];
    let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) else {
        return Vec::new();
    };
    rest[open + 1..close]
        .split(',')
        .map(unquote)
        .filter(|m| !m.is_empty())
        .collect()
}

fn check_tree(root: &Path) -> Vec<Violation> {
    let mut found = Vec::new();
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files.sort();
    assert!(
        files.len() > 50,
        "the tidy test found too few files under {root:?}"
    );
    for path in &files {
        let file = rel(root, path);
        let name = slash(&file);
        let text = std::fs::read_to_string(path).unwrap_or_default();
        found.extend(check_module_doc(&file, &text));
        let ast = match syn::parse_file(&text) {
            Ok(ast) => ast,
            Err(e) => {
                found.push(violation(
                    &file,
                    e.span().start().line,
                    "parse",
                    format!("tidy could not parse the file: {e}"),
                ));
                continue;
            }
        };
        if !SQL_OWNERS.iter().any(|o| name.starts_with(o)) && !SQL_EXAMPLES.contains(&name.as_str())
        {
            found.extend(check_sql(&file, &ast));
        }
        if WORKERS
            .iter()
            .any(|w| name.starts_with(&format!("{w}/src/")))
        {
            found.extend(check_panics(&file, &ast));
        }
    }
    let root_manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).expect("the root Cargo.toml");
    let manifests: BTreeMap<String, String> = members(&root_manifest)
        .into_iter()
        .filter_map(|m| {
            let text = std::fs::read_to_string(root.join(&m).join("Cargo.toml")).ok()?;
            Some((m, text))
        })
        .collect();
    assert!(
        manifests.contains_key("contracts"),
        "the tidy test read no workspace members"
    );
    found.extend(check_pure_crates(&root_manifest, &manifests));
    found
}

#[test]
fn the_tree_is_tidy() {
    let found = check_tree(&repo_root());
    let report: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(
        found.is_empty(),
        "tidy found {} problem(s):\n{}",
        found.len(),
        report.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The checker itself: each rule catches a violation.

fn parse(src: &str) -> syn::File {
    syn::parse_file(src).expect("test source parses")
}

#[test]
fn module_doc_rule_catches_a_file_without_one() {
    let f = Path::new("x/src/a.rs");
    assert_eq!(check_module_doc(f, "//! What this is.\nfn a() {}\n"), None);
    assert_eq!(check_module_doc(f, "\n\n//! After blank lines.\n"), None);
    let v = check_module_doc(f, "\n// a plain comment\nfn a() {}\n").expect("caught");
    assert_eq!((v.line, v.rule), (2, "module-doc"));
    assert_eq!(
        v.to_string().split(": [").next(),
        Some("x/src/a.rs:2"),
        "names file:line"
    );
    assert!(check_module_doc(f, "/// an item doc\nfn a() {}\n").is_some());
    assert!(
        check_module_doc(f, "//!\n").is_some(),
        "an empty `//!` is no paragraph"
    );
    assert!(check_module_doc(f, "").is_some());
}

#[test]
fn sql_rule_catches_statements_in_code_not_in_comments() {
    let f = Path::new("consumers/src/a.rs");
    let src = r#"//! Doc: a `SELECT * FROM orders` in prose is fine.
/// So is `INSERT INTO t` in an item doc.
fn a() {
    // and `DELETE FROM t` in a comment
    let label = "SELECT a plan"; // English, no FROM
    let q = "SELECT * FROM orders WHERE id = ?";
    let s = format!("UPDATE orders SET status = '{}'", 1);
    let t = "INSERT INTO signals (a) VALUES (?)";
}
"#;
    let found = check_sql(f, &parse(src));
    let lines: Vec<usize> = found.iter().map(|v| v.line).collect();
    assert_eq!(lines, vec![6, 7, 8], "{found:?}");
    assert!(found.iter().all(|v| v.rule == "sql-owner"));
    assert!(found[0]
        .to_string()
        .starts_with("consumers/src/a.rs:6: [sql-owner]"));
    assert_eq!(looks_like_sql("CREATE TABLE x (a)"), Some("DDL"));
    assert_eq!(looks_like_sql("Update the SETtings"), None);
}

#[test]
fn panic_rule_catches_unwrap_and_expect_outside_tests() {
    let f = Path::new("gateway/src/a.rs");
    let src = r#"//! A worker module.
fn handle(x: Option<u8>) -> u8 {
    let a = x.unwrap_or(0);
    let b = x.unwrap();
    let s = format!("{}", x.expect("present"));
    a + b
}

impl S {
    fn m(&self) { self.v.unwrap(); }
    #[cfg(test)]
    fn only_in_tests(&self) { self.v.unwrap(); }
}

#[cfg(not(test))]
fn production() { y.unwrap(); }

#[cfg(test)]
mod tests {
    #[test]
    fn t() { Some(1).unwrap(); }
}
"#;
    let found = check_panics(f, &parse(src));
    let lines: Vec<usize> = found.iter().map(|v| v.line).collect();
    assert_eq!(lines, vec![4, 5, 10, 16], "{found:?}");
    assert!(found
        .iter()
        .all(|v| v.rule == "no-panic-on-request" && v.file == f));
    assert!(found[1].detail.contains("`.expect()`"));
}

#[test]
fn pure_crate_rule_catches_worker_directly_renamed_and_through_a_crate() {
    let root = r#"[workspace]
members = ["contracts", "ops", "runtime"]

[workspace.dependencies]
contracts = { path = "contracts" }
runtime = { path = "runtime" }
sdk = { version = "=0.8.7", package = "worker" }
worker = { version = "=0.8.7" }
serde = "1"
"#;
    let mut manifests = BTreeMap::new();
    manifests.insert(
        "contracts".to_owned(),
        "[package]\nname = \"contracts\"\n\n[dependencies]\nserde.workspace = true\n".to_owned(),
    );
    manifests.insert(
        "runtime".to_owned(),
        "[package]\nname = \"runtime\"\n\n[dependencies]\nworker.workspace = true\n".to_owned(),
    );
    assert!(check_pure_crates(root, &manifests).is_empty());

    manifests.insert(
        "ops".to_owned(),
        r#"[package]
name = "ops"

[dependencies]
contracts.workspace = true
rt = { path = "../runtime", package = "runtime" }

[target.'cfg(target_arch = "wasm32")'.dependencies]
sdk.workspace = true

[dev-dependencies.worker]
version = "=0.8.7"
"#
        .to_owned(),
    );
    let found = check_pure_crates(root, &manifests);
    let lines: Vec<usize> = found.iter().map(|v| v.line).collect();
    assert_eq!(lines, vec![6, 9, 11], "{found:?}");
    assert!(found.iter().all(|v| v.rule == "pure-crate"));
    assert!(found[0]
        .to_string()
        .starts_with("ops/Cargo.toml:6: [pure-crate]"));
    assert!(found[0].detail.contains("runtime → worker"), "{}", found[0]);
}
