//! Binance USDⓈ-M futures' account reads, from the derivatives documentation
//! (<https://developers.binance.com/docs/derivatives/usds-margined-futures/>):
//!
//! - **Positions** — "Position Information V3 (USER_DATA)",
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Position-Information-V3>:
//!   `GET /fapi/v3/positionRisk`, "only symbol that has position or open orders will be
//!   returned" (so rows of size 0 are skipped); each row has `positionSide` (`BOTH` in one-way
//!   mode, `LONG`/`SHORT` in hedge mode), `positionAmt` (negative for a short), `entryPrice`,
//!   `markPrice`, `unRealizedProfit`, `marginAsset`, `isolatedWallet`. V3 carries no
//!   `leverage` and no `marginType` (V2 did): leverage stays unknown, and the margin mode is
//!   read from `isolatedWallet` (a position's isolated wallet is positive exactly when its
//!   margin is isolated; cross positions have 0 there). Only `marginAsset` USDT rows are kept.
//! - **Wallet** — "Account Information V3 (USER_DATA)",
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Account-Information-V3>:
//!   `GET /fapi/v3/account`, whose `assets[]` has, per asset, `walletBalance`,
//!   `unrealizedProfit` and `marginBalance` (wallet plus unrealised: the equity). Chosen over
//!   "Futures Account Balance V3" (`GET /fapi/v3/balance`), whose `crossUnPnl` counts crossed
//!   positions only.
//! - **Fees** — "Account Trade List (USER_DATA)",
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Account-Trade-List>:
//!   `GET /fapi/v1/userTrades?symbol=…&orderId=…` ("orderId: This can only be used in
//!   combination with `symbol`"; without times, "the last 7 days' data will be returned"); each
//!   trade has `qty`, `commission` and `commissionAsset`. Binance's order answers carry no fee
//!   at all, so this is the only source. The documented example shows a taker's commission as
//!   negative (`"-0.07819010"`) where answers elsewhere show a positive number: the amount paid
//!   is taken as its magnitude. The fee is known only when the trades add up to the order's
//!   filled quantity, all in one asset.
//!
//! hoox's orders carry no `positionSide`, which Binance requires in hedge mode, so they trade
//! one-way accounts: one net position per symbol ([`Account::nets_sides`]).

use super::{answer, Binance};
use crate::account::{
    signed_size, sum_fees, Account, Balance, ExchangePosition, MarginMode, PositionSide, Positions,
};
use crate::order::OrderRequest;
use crate::venue::{
    Context, Credentials, ErrorClass, ExchangeError, HttpRequest, HttpResponse, Venue,
};
use crate::wire::{decimal, error, excerpt, text, Call};
use contracts::event::{Fee, OrderAck};
use contracts::signal::Exchange;
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use serde_json::Value;

fn num(item: &Value, key: &str) -> Option<Decimal> {
    item.get(key).and_then(decimal)
}

fn unreadable(resp: &HttpResponse, what: &str) -> ExchangeError {
    error(
        Exchange::Binance,
        ErrorClass::Retryable {
            retry_after_seconds: None,
        },
        resp.status,
        None,
        format!("{what}: {}", excerpt(&resp.body)),
    )
}

fn position_of(row: &Value) -> Result<Option<ExchangePosition>, String> {
    if row
        .get("marginAsset")
        .and_then(Value::as_str)
        .is_some_and(|a| a != "USDT")
    {
        return Ok(None);
    }
    let amount = num(row, "positionAmt").unwrap_or(Decimal::ZERO);
    let Some((signed_side, size)) = signed_size(amount) else {
        return Ok(None);
    };
    let (side, hedge_leg) = match row.get("positionSide").and_then(Value::as_str) {
        Some("LONG") => (PositionSide::Long, true),
        Some("SHORT") => (PositionSide::Short, true),
        _ => (signed_side, false),
    };
    let exchange_symbol = row
        .get("symbol")
        .and_then(text)
        .ok_or_else(|| "position without symbol".to_owned())?;
    let symbol = Symbol::parse(&exchange_symbol).map_err(|_| exchange_symbol.clone())?;
    let isolated = num(row, "isolatedWallet").map(|w| w > Decimal::ZERO);
    Ok(Some(ExchangePosition {
        symbol,
        exchange_symbol,
        side,
        size,
        entry_price: num(row, "entryPrice").filter(|p| *p > Decimal::ZERO),
        mark_price: num(row, "markPrice").filter(|p| *p > Decimal::ZERO),
        unrealised_pnl: num(row, "unRealizedProfit"),
        leverage: None,
        margin_mode: isolated.map(|i| {
            if i {
                MarginMode::Isolated
            } else {
                MarginMode::Cross
            }
        }),
        hedge_leg,
    }))
}

impl Account for Binance {
    fn positions_request(&self, ctx: &Context, creds: &Credentials) -> HttpRequest {
        Self::signed_get(ctx, creds, "/fapi/v3/positionRisk", &[])
    }

    fn parse_positions(&self, resp: &HttpResponse) -> Result<Positions, ExchangeError> {
        let json = answer(Call::Query, resp)?;
        let rows = json
            .as_array()
            .ok_or_else(|| unreadable(resp, "positions answer is not a list"))?;
        let mut out = Positions {
            positions: Vec::new(),
            complete: true,
            unrecognised: Vec::new(),
        };
        for row in rows {
            match position_of(row) {
                Ok(Some(p)) => out.positions.push(p),
                Ok(None) => {}
                Err(symbol) => out.unrecognised.push(symbol),
            }
        }
        Ok(out)
    }

    fn balance_request(&self, ctx: &Context, creds: &Credentials) -> HttpRequest {
        Self::signed_get(ctx, creds, "/fapi/v3/account", &[])
    }

    fn parse_balance(&self, resp: &HttpResponse) -> Result<Balance, ExchangeError> {
        let json = answer(Call::Query, resp)?;
        let assets = json
            .get("assets")
            .and_then(Value::as_array)
            .ok_or_else(|| unreadable(resp, "account answer without assets"))?;
        let Some(usdt) = assets
            .iter()
            .find(|a| a.get("asset").and_then(Value::as_str) == Some("USDT"))
        else {
            return Ok(Balance::no_usdt());
        };
        let wallet = num(usdt, "walletBalance")
            .ok_or_else(|| unreadable(resp, "USDT walletBalance missing"))?;
        let unrealised = num(usdt, "unrealizedProfit");
        Balance::usdt(wallet, unrealised, num(usdt, "marginBalance"))
            .map_err(|e| unreadable(resp, &e.to_string()))
    }

    fn fees_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        ack: &OrderAck,
    ) -> HttpRequest {
        Self::signed_get(
            ctx,
            creds,
            "/fapi/v1/userTrades",
            &[
                ("symbol", self.symbol(&order.symbol)),
                ("orderId", ack.exchange_order_id.clone()),
            ],
        )
    }

    fn parse_fees(
        &self,
        _order: &OrderRequest,
        ack: &OrderAck,
        resp: &HttpResponse,
    ) -> Result<Option<Fee>, ExchangeError> {
        let json = answer(Call::Query, resp)?;
        let trades = json
            .as_array()
            .ok_or_else(|| unreadable(resp, "trades answer is not a list"))?;
        let ours: Vec<&Value> = trades
            .iter()
            .filter(|t| t.get("orderId").and_then(text).as_deref() == Some(&ack.exchange_order_id))
            .collect();
        let mut assets = ours.iter().map(|t| {
            t.get("commissionAsset")
                .and_then(Value::as_str)
                .unwrap_or("USDT")
        });
        let asset = assets.next().unwrap_or("USDT").to_owned();
        if assets.any(|a| a != asset) {
            return Ok(None);
        }
        let executed = sum_fees(ours.iter().map(|t| num(t, "qty").unwrap_or_default()));
        if executed != Some(ack.filled_quantity) {
            return Ok(None);
        }
        Ok(sum_fees(
            ours.iter()
                .map(|t| num(t, "commission").unwrap_or_default().abs()),
        )
        .map(|amount| Fee {
            amount: amount.normalize(),
            asset,
        }))
    }

    fn nets_sides(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{creds, ctx_at, d, order, response};

    const B: Binance = Binance;

    fn ctx() -> Context {
        ctx_at("https://fapi.binance.com")
    }

    #[test]
    fn account_requests_are_signed_gets() {
        let p = B.positions_request(&ctx(), &creds());
        let total = "recvWindow=5000&timestamp=1700000000000";
        assert_eq!(
            p.url,
            format!(
                "https://fapi.binance.com/fapi/v3/positionRisk?{total}&signature={}",
                crate::signing::binance_signature("test-secret", total)
            )
        );
        let b = B.balance_request(&ctx(), &creds());
        assert!(b
            .url
            .starts_with("https://fapi.binance.com/fapi/v3/account?recvWindow=5000&timestamp="));
        let o = order(Exchange::Binance, "0.01", None);
        let f = B.fees_request(&ctx(), &creds(), &o, &ack("0.01"));
        assert!(f
            .url
            .starts_with("https://fapi.binance.com/fapi/v1/userTrades?symbol=BTCUSDT&orderId=25851813&recvWindow=5000"));
        for r in [p, b, f] {
            assert_eq!(r.method, crate::venue::Method::Get);
            assert!(r
                .headers
                .iter()
                .any(|(k, v)| k == "X-MBX-APIKEY" && v == "test-key"));
        }
    }

    /// The documented examples of Position Information V3, both modes.
    const DOC_ONE_WAY: &str = r#"[{"symbol":"ADAUSDT","positionSide":"BOTH","positionAmt":"30","entryPrice":"0.385","breakEvenPrice":"0.385077","markPrice":"0.41047590","unRealizedProfit":"0.76427700","liquidationPrice":"0","isolatedMargin":"0","notional":"12.31427700","marginAsset":"USDT","isolatedWallet":"0","initialMargin":"0.61571385","maintMargin":"0.08004280","positionInitialMargin":"0.61571385","openOrderInitialMargin":"0","adl":2,"bidNotional":"0","askNotional":"0","updateTime":1720736417660}]"#;
    const DOC_HEDGE_SHORT: &str = r#"[{"symbol":"COMPUSDT","positionSide":"SHORT","positionAmt":"-1.000","entryPrice":"70.92841","breakEvenPrice":"70.900038636","markPrice":"49.72023376","unRealizedProfit":"21.20817624","liquidationPrice":"2260.56757210","isolatedMargin":"0","notional":"-49.72023376","marginAsset":"USDT","isolatedWallet":"0","initialMargin":"2.48601168","maintMargin":"0.49720233","positionInitialMargin":"2.48601168","openOrderInitialMargin":"0","adl":2,"bidNotional":"0","askNotional":"0","updateTime":1708943511656}]"#;

    #[test]
    fn parses_the_documented_positions() {
        let p = B
            .parse_positions(&response(200, DOC_ONE_WAY))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(p.complete);
        let x = &p.positions[0];
        assert_eq!(
            (x.symbol.canonical().as_str(), x.side, x.size),
            ("ADAUSDT", PositionSide::Long, d("30"))
        );
        assert_eq!(x.entry_price, Some(d("0.385")));
        assert_eq!(x.mark_price, Some(d("0.4104759")));
        assert_eq!(x.unrealised_pnl, Some(d("0.764277")));
        assert_eq!((x.leverage, x.margin_mode), (None, Some(MarginMode::Cross)));
        assert!(!x.hedge_leg, "positionSide BOTH is one-way");
        let p = B
            .parse_positions(&response(200, DOC_HEDGE_SHORT))
            .unwrap_or_else(|e| panic!("{e}"));
        let x = &p.positions[0];
        assert_eq!((x.side, x.size), (PositionSide::Short, d("1")));
        assert_eq!(x.unrealised_pnl, Some(d("21.20817624")));
        assert!(x.hedge_leg, "positionSide SHORT is a hedge-mode leg");
    }

    #[test]
    fn one_way_shorts_empty_rows_and_other_margin_assets() {
        let body = r#"[
            {"symbol":"BTCUSDT","positionSide":"BOTH","positionAmt":"-0.010","entryPrice":"65000","markPrice":"64000","unRealizedProfit":"10","marginAsset":"USDT","isolatedWallet":"12.5"},
            {"symbol":"ETHUSDT","positionSide":"BOTH","positionAmt":"0","entryPrice":"0","markPrice":"3000","unRealizedProfit":"0","marginAsset":"USDT","isolatedWallet":"0"},
            {"symbol":"BTCUSDC","positionSide":"BOTH","positionAmt":"1","entryPrice":"1","markPrice":"1","unRealizedProfit":"0","marginAsset":"USDC","isolatedWallet":"0"}
        ]"#;
        let p = B
            .parse_positions(&response(200, body))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.positions.len(), 1);
        let x = &p.positions[0];
        assert_eq!((x.side, x.size), (PositionSide::Short, d("0.01")));
        assert_eq!(x.margin_mode, Some(MarginMode::Isolated));
        let refused = B
            .parse_positions(&response(
                401,
                r#"{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}"#,
            ))
            .err();
        assert_eq!(refused.map(|e| e.class), Some(ErrorClass::Terminal));
        assert!(B.parse_positions(&response(200, r#"{"a":1}"#)).is_err());
    }

    #[test]
    fn parses_the_usdt_asset_of_the_account() {
        let body = r#"{"totalInitialMargin":"0.00000000","totalMaintMargin":"0.00000000","totalWalletBalance":"103.12345678","totalUnrealizedProfit":"0.00000000","totalMarginBalance":"103.12345678","totalPositionInitialMargin":"0.00000000","totalOpenOrderInitialMargin":"0.00000000","totalCrossWalletBalance":"103.12345678","totalCrossUnPnl":"0.00000000","availableBalance":"103.12345678","maxWithdrawAmount":"103.12345678","assets":[{"asset":"USDT","walletBalance":"23.72469206","unrealizedProfit":"1.50000000","marginBalance":"25.22469206","maintMargin":"0.00000000","initialMargin":"0.00000000","positionInitialMargin":"0.00000000","openOrderInitialMargin":"0.00000000","crossWalletBalance":"23.72469206","crossUnPnl":"0.00000000","availableBalance":"23.72469206","maxWithdrawAmount":"23.72469206","updateTime":1625474304765},{"asset":"USDC","walletBalance":"103.12345678","unrealizedProfit":"0.00000000","marginBalance":"103.12345678"}],"positions":[]}"#;
        assert_eq!(
            B.parse_balance(&response(200, body)),
            Ok(Balance {
                asset: "USDT".into(),
                wallet_balance: d("23.72469206"),
                unrealised_pnl: Some(d("1.5")),
                equity: d("25.22469206"),
            })
        );
        assert!(B.parse_balance(&response(200, "[]")).is_err());
    }

    fn ack(filled: &str) -> OrderAck {
        OrderAck {
            client_order_id: "hx0123456789abcdef0123456789abcd".into(),
            exchange_order_id: "25851813".into(),
            status: "FILLED".into(),
            filled_quantity: d(filled),
            average_price: Some(d("7819.01")),
        }
    }

    #[test]
    fn fees_come_from_the_account_trades_of_the_order() {
        let o = order(Exchange::Binance, "0.002", None);
        // The documented example: one trade of the order.
        let doc = r#"[{"buyer":false,"commission":"-0.07819010","commissionAsset":"USDT","id":698759,"maker":false,"orderId":25851813,"price":"7819.01","qty":"0.002","quoteQty":"15.63802","realizedPnl":"-0.91539999","side":"SELL","positionSide":"SHORT","symbol":"BTCUSDT","time":1569514978020}]"#;
        assert_eq!(
            B.parse_fees(&o, &ack("0.002"), &response(200, doc)),
            Ok(Some(Fee {
                amount: d("0.0781901"),
                asset: "USDT".into()
            }))
        );
        // A second trade of another order is not ours; one missing trade is no fee yet.
        let two = r#"[{"commission":"0.1","commissionAsset":"USDT","orderId":25851813,"qty":"0.001"},{"commission":"5","commissionAsset":"USDT","orderId":1,"qty":"0.001"}]"#;
        assert_eq!(
            B.parse_fees(&o, &ack("0.002"), &response(200, two)),
            Ok(None)
        );
        let mixed = r#"[{"commission":"0.1","commissionAsset":"USDT","orderId":25851813,"qty":"0.001"},{"commission":"0.0001","commissionAsset":"BNB","orderId":25851813,"qty":"0.001"}]"#;
        assert_eq!(
            B.parse_fees(&o, &ack("0.002"), &response(200, mixed)),
            Ok(None)
        );
        assert!(B.nets_sides());
    }
}
