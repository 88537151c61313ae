//! The registry against the tree: every worker config in the repository is a registered
//! deployable (or one of the harness's test-only fixture workers), every row names a crate and
//! a config that exist and agree, and the gateway binds every worker it forwards routes to.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `wrangler.jsonc` under `dir`, relative to the repository, outside build output,
/// installed tools and local state.
fn configs_in(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(
                name.as_str(),
                "target" | "node_modules" | "build" | ".git" | ".wrangler" | ".state"
            ) {
                configs_in(&path, out);
            }
        } else if name == "wrangler.jsonc" {
            let rel = path.strip_prefix(repo()).unwrap_or(&path);
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_worker_config_in_the_tree_is_registered() {
    let mut found = Vec::new();
    configs_in(&repo(), &mut found);
    let registered: Vec<&str> = registry::HOOX.configs();
    for config in &found {
        assert!(
            registered.contains(&config.as_str())
                || registry::TEST_ONLY_CONFIGS.contains(&config.as_str()),
            "{config} is a worker config with no row in registry/src/lib.rs (DEPLOYABLES), \
             and not a test-only fixture (TEST_ONLY_CONFIGS)"
        );
    }
    for config in registered {
        assert!(
            found.iter().any(|f| f == config),
            "{config} is registered but missing"
        );
    }
}

#[test]
fn every_row_names_its_crate_and_its_configs_worker() {
    for d in registry::DEPLOYABLES {
        let manifest = std::fs::read_to_string(repo().join(d.krate).join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("{}: no crate: {e}", d.krate));
        assert!(
            manifest.contains(&format!("name = \"{}\"", d.krate)),
            "{}/Cargo.toml names the package {}",
            d.krate,
            d.krate
        );
        let text = std::fs::read_to_string(repo().join(d.config)).unwrap_or_default();
        let v = xtask::jsonc::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", d.config));
        assert_eq!(v["name"], d.worker, "{}", d.config);
    }
}

#[test]
fn the_gateway_binds_every_worker_it_forwards_to() {
    let public = registry::public();
    let text = std::fs::read_to_string(repo().join(public.config)).unwrap_or_default();
    let v = xtask::jsonc::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let services: Vec<(&str, &str)> = v["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["binding"].as_str()?, s["service"].as_str()?)))
        .collect();
    for d in registry::DEPLOYABLES
        .iter()
        .filter(|d| !d.routes.is_empty())
    {
        let binding = d
            .binding
            .unwrap_or_else(|| panic!("{} has routes, no binding", d.worker));
        assert!(
            services.contains(&(binding, d.worker)),
            "{} binds {binding} → {}",
            public.config,
            d.worker
        );
    }
}
