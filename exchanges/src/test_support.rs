//! Fixtures shared by the adapters' tests: a fixed clock and test credentials, so every request
//! they build is byte-for-byte predictable.

use crate::order::{OrderRequest, Side};
use crate::venue::{Context, Credentials, HttpResponse, Instrument};
use contracts::signal::{Exchange, OrderType};
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use std::str::FromStr;

/// 2023-11-14T22:13:20Z, the clock of every test request.
pub const NOW_MS: i64 = 1_700_000_000_000;

/// A Bybit mainnet context at [`NOW_MS`] with the default 5 s window.
pub fn ctx() -> Context {
    ctx_at("https://api.bybit.com")
}

pub fn ctx_at(base_url: &str) -> Context {
    Context {
        base_url: base_url.into(),
        now_ms: NOW_MS,
        recv_window_ms: 5000,
    }
}

pub fn creds() -> Credentials {
    Credentials {
        api_key: "test-key".into(),
        api_secret: "test-secret".into(),
    }
}

/// A decimal from a test literal.
pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|_| panic!("{s}"))
}

pub fn instrument(symbol: &str, step: &str, min: &str, tick: &str, contract: &str) -> Instrument {
    Instrument {
        symbol: symbol.into(),
        qty_step: d(step),
        min_qty: d(min),
        tick_size: d(tick),
        contract_size: d(contract),
        limits: Default::default(),
        placement: Default::default(),
    }
}

/// A market buy of `qty` BTCUSDT opening a position, with an optional reference price.
pub fn order(exchange: Exchange, qty: &str, price: Option<&str>) -> OrderRequest {
    OrderRequest {
        exchange,
        client_order_id: "hx0123456789abcdef0123456789abcd".into(),
        symbol: Symbol::parse("BTCUSDT").unwrap_or_else(|e| panic!("{e}")),
        side: Side::Buy,
        order_type: OrderType::Market,
        quantity: d(qty),
        price: price.map(d),
        reduce_only: false,
        leverage: 1,
        take_profit: None,
        stop_loss: None,
        testnet: false,
    }
}

pub fn response(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: Vec::new(),
        body: body.into(),
    }
}
