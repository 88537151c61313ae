//! `hoox`: the operator command line. See `hoox --help`; the work is in the `cli` library.

use clap::Parser as _;

fn main() {
    let cli = cli::args::Cli::parse();
    let dir = std::env::current_dir().unwrap_or_else(|_| ".".into());
    if let Err(e) = cli::run::run(cli, &dir) {
        eprintln!("hoox: {e}");
        std::process::exit(e.exit_code());
    }
}
