//! Runs the mock Bybit, Binance and MEXC on 127.0.0.1 for manual runs and benchmarks, and prints
//! the base URLs and test credentials to point a local hoox at.
//!
//! `mock-exchanges [--port N] [--accept-delay-ms N]`; stops on Ctrl-C.

use contracts::signal::Exchange;
use integration::mock_exchange::{MockExchanges, MockOptions};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("usage: mock-exchanges [--port N] [--accept-delay-ms N] ({0})")]
    Usage(String),
    #[error(transparent)]
    Mock(#[from] integration::mock_exchange::MockError),
    #[error("waiting for Ctrl-C: {0}")]
    Signal(#[from] std::io::Error),
}

fn options() -> Result<MockOptions, CliError> {
    let mut opts = MockOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| CliError::Usage(format!("{name} needs a number")))
        };
        match flag.as_str() {
            "--port" => {
                opts.port = u16::try_from(value("--port")?)
                    .map_err(|_| CliError::Usage("--port is at most 65535".into()))?
            }
            "--accept-delay-ms" => {
                opts.accept_delay = Duration::from_millis(value("--accept-delay-ms")?)
            }
            other => return Err(CliError::Usage(format!("unknown argument {other}"))),
        }
    }
    Ok(opts)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), CliError> {
    let mock = MockExchanges::start_with(options()?).await?;
    println!("mock exchanges on {}", mock.url());
    for ex in [Exchange::Bybit, Exchange::Binance, Exchange::Mexc] {
        let creds =
            mock.credentials()
                .get(ex)
                .cloned()
                .unwrap_or_else(|| exchanges::venue::Credentials {
                    api_key: String::new(),
                    api_secret: String::new(),
                });
        println!(
            "{:<8} {}  key={} secret={}",
            ex.as_str(),
            mock.base_url(ex),
            creds.api_key,
            creds.api_secret
        );
        if let (Some(url), Some(c)) = (
            mock.testnet_base_url(ex),
            mock.credentials().for_network(ex, true),
        ) {
            println!(
                "{:<8} {}  key={} secret={}  (testnet: *_TESTNET_BASE_URL, *_TESTNET_API_KEY/_SECRET)",
                "",
                url,
                c.api_key,
                c.api_secret
            );
        }
    }
    println!(
        "control  {}/__mock/faults (POST), /__mock/prices (POST), /__mock/orders (GET), /__mock/algo_orders (GET), /__mock/reset (POST)",
        mock.url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
