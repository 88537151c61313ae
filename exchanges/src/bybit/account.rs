//! Bybit v5's account reads, from `bybit-exchange/docs` (the source of
//! <https://bybit-exchange.github.io/docs/v5/>):
//!
//! - **Positions** — "Get Position Info", <https://bybit-exchange.github.io/docs/v5/position>
//!   (`docs/v5/position/position.mdx`): `GET /v5/position/list`, `category` required, and "For
//!   `linear`, either `symbol` or `settleCoin` is **required**"; "If `symbol`=null and
//!   `settleCoin` specified, it returns position size greater than zero"; `limit` "[`1`,
//!   `200`]. Default: `20`", then `nextPageCursor`. So hoox asks
//!   `category=linear&settleCoin=USDT&limit=200`. Each item: `side` ("`Buy`: long, `Sell`:
//!   short"; an empty position is `""` or `None`), `size`, `avgPrice` ("Average entry price"),
//!   `markPrice`, `unrealisedPnl`, `leverage` (`""` in portfolio margin mode), `tradeMode`
//!   ("Classic & UTA (inverse): `0`: cross-margin, `1`: isolated margin"; "UTA: depreciated,
//!   always `0`", so only `1` is read, as isolated, and `0` says nothing).
//! - **Wallet** — "Get Wallet Balance", <https://bybit-exchange.github.io/docs/v5/account/wallet-balance>
//!   (`docs/v5/account/wallet-balance.mdx`): `GET /v5/account/wallet-balance?accountType=
//!   UNIFIED&coin=USDT`; `list[].coin[]` has `walletBalance`, `unrealisedPnl` and `equity` of
//!   the coin. "By default, currency information with assets or liabilities of 0 is not
//!   returned": an account listed without USDT holds none.
//! - **Fees** — "Get Trade History", <https://bybit-exchange.github.io/docs/v5/order/execution>:
//!   `GET /v5/execution/list`, "You may have multiple executions in a single order", queried
//!   by `orderLinkId` ("orderId and orderLinkId have a higher priority"), `limit` "[`1`,
//!   `100`]"; each execution has `execFee` ("Executed trading fee"), `execQty`, `feeCurrency`
//!   (empty for contracts, which pay in the settle coin, USDT here). The fee is known only
//!   when the executions listed add up to the order's filled quantity (the list is
//!   asynchronous and may lag the order) and no further page exists.
//!
//! Bybit keeps one net position per symbol in one-way mode (`positionIdx` 0, its default:
//! [`Account::nets_sides`]); a hedge-mode account reports each side as its own leg
//! (`positionIdx` 1 or 2, `ExchangePosition::hedge_leg`), compared side by side.

use super::{envelope, Bybit};
use crate::account::{
    sum_fees, Account, Balance, ExchangePosition, MarginMode, PositionSide, Positions,
};
use crate::order::OrderRequest;
use crate::venue::{
    Context, Credentials, ErrorClass, ExchangeError, HttpRequest, HttpResponse, Venue,
};
use crate::wire::{decimal, error, excerpt, query_string, text, Call};
use contracts::event::{Fee, OrderAck};
use contracts::signal::Exchange;
use contracts::symbol::Symbol;
use rust_decimal::Decimal;
use serde_json::Value;

/// Positions per page (Bybit's maximum).
pub const POSITIONS_LIMIT: u32 = 200;
/// Executions per page (Bybit's maximum).
pub const EXECUTIONS_LIMIT: u32 = 100;

fn list(result: &Value) -> &[Value] {
    result
        .get("list")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn more_pages(result: &Value) -> bool {
    result
        .get("nextPageCursor")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
}

/// A decimal field, `None` when empty, absent or unreadable.
fn num(item: &Value, key: &str) -> Option<Decimal> {
    item.get(key).and_then(decimal)
}

fn position_of(item: &Value) -> Result<Option<ExchangePosition>, String> {
    let size = num(item, "size").unwrap_or(Decimal::ZERO);
    let side = match item.get("side").and_then(Value::as_str) {
        Some("Buy") => PositionSide::Long,
        Some("Sell") => PositionSide::Short,
        // "an empty position returns `None`" / "an empty string".
        _ => return Ok(None),
    };
    if size <= Decimal::ZERO {
        return Ok(None);
    }
    let exchange_symbol = item
        .get("symbol")
        .and_then(text)
        .ok_or_else(|| "position without symbol".to_owned())?;
    let symbol = Symbol::parse(&exchange_symbol).map_err(|_| exchange_symbol.clone())?;
    Ok(Some(ExchangePosition {
        symbol,
        exchange_symbol,
        side,
        size,
        entry_price: num(item, "avgPrice").filter(|p| *p > Decimal::ZERO),
        mark_price: num(item, "markPrice").filter(|p| *p > Decimal::ZERO),
        unrealised_pnl: num(item, "unrealisedPnl"),
        leverage: num(item, "leverage").filter(|l| *l > Decimal::ZERO),
        margin_mode: (item.get("tradeMode").and_then(Value::as_i64) == Some(1))
            .then_some(MarginMode::Isolated),
        // "0: one-way mode position, 1: Buy side of hedge-mode position, 2: Sell side".
        hedge_leg: matches!(item.get("positionIdx").and_then(Value::as_i64), Some(1 | 2)),
    }))
}

fn missing(resp: &HttpResponse, what: &str) -> ExchangeError {
    error(
        Exchange::Bybit,
        ErrorClass::Retryable {
            retry_after_seconds: None,
        },
        resp.status,
        None,
        format!("{what}: {}", excerpt(&resp.body)),
    )
}

impl Account for Bybit {
    fn positions_request(&self, ctx: &Context, creds: &Credentials) -> HttpRequest {
        let query = query_string(&[
            ("category", "linear".into()),
            ("settleCoin", "USDT".into()),
            ("limit", POSITIONS_LIMIT.to_string()),
        ]);
        Self::signed_get(ctx, creds, "/v5/position/list", query)
    }

    fn parse_positions(&self, resp: &HttpResponse) -> Result<Positions, ExchangeError> {
        let result = envelope(Call::Query, resp)?;
        let mut out = Positions {
            positions: Vec::new(),
            complete: !more_pages(&result),
            unrecognised: Vec::new(),
        };
        for item in list(&result) {
            match position_of(item) {
                Ok(Some(p)) => out.positions.push(p),
                Ok(None) => {}
                Err(symbol) => out.unrecognised.push(symbol),
            }
        }
        Ok(out)
    }

    fn balance_request(&self, ctx: &Context, creds: &Credentials) -> HttpRequest {
        let query = query_string(&[("accountType", "UNIFIED".into()), ("coin", "USDT".into())]);
        Self::signed_get(ctx, creds, "/v5/account/wallet-balance", query)
    }

    fn parse_balance(&self, resp: &HttpResponse) -> Result<Balance, ExchangeError> {
        let result = envelope(Call::Query, resp)?;
        let account = list(&result)
            .first()
            .ok_or_else(|| missing(resp, "wallet balance without an account"))?;
        let usdt = account
            .get("coin")
            .and_then(Value::as_array)
            .and_then(|coins| {
                coins
                    .iter()
                    .find(|c| c.get("coin").and_then(Value::as_str) == Some("USDT"))
            });
        let Some(usdt) = usdt else {
            // Zero assets are not listed: the account holds no USDT.
            return Ok(Balance::no_usdt());
        };
        let wallet = num(usdt, "walletBalance")
            .ok_or_else(|| missing(resp, "USDT walletBalance missing"))?;
        let unrealised = num(usdt, "unrealisedPnl");
        Balance::usdt(wallet, unrealised, num(usdt, "equity"))
            .map_err(|e| missing(resp, &e.to_string()))
    }

    fn fees_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        _ack: &OrderAck,
    ) -> HttpRequest {
        let query = query_string(&[
            ("category", "linear".into()),
            ("symbol", self.symbol(&order.symbol)),
            ("orderLinkId", order.client_order_id.clone()),
            ("limit", EXECUTIONS_LIMIT.to_string()),
        ]);
        Self::signed_get(ctx, creds, "/v5/execution/list", query)
    }

    fn parse_fees(
        &self,
        order: &OrderRequest,
        ack: &OrderAck,
        resp: &HttpResponse,
    ) -> Result<Option<Fee>, ExchangeError> {
        let result = envelope(Call::Query, resp)?;
        if more_pages(&result) {
            return Ok(None);
        }
        let fills: Vec<&Value> = list(&result)
            .iter()
            .filter(|e| {
                e.get("orderLinkId").and_then(Value::as_str) == Some(order.client_order_id.as_str())
            })
            .filter(|e| e.get("execType").and_then(Value::as_str) != Some("Funding"))
            .collect();
        let mut assets = fills.iter().map(|e| {
            e.get("feeCurrency")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .unwrap_or("USDT")
        });
        let asset = assets.next().unwrap_or("USDT").to_owned();
        if assets.any(|a| a != asset) {
            return Ok(None);
        }
        let executed = sum_fees(fills.iter().map(|e| num(e, "execQty").unwrap_or_default()));
        // The executions must account for the whole fill, or the fee would be understated.
        if executed != Some(ack.filled_quantity) {
            return Ok(None);
        }
        Ok(
            sum_fees(fills.iter().map(|e| num(e, "execFee").unwrap_or_default())).map(|amount| {
                Fee {
                    amount: amount.normalize(),
                    asset,
                }
            }),
        )
    }

    fn nets_sides(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::sign;
    use crate::test_support::{creds, ctx, d, order, response};

    fn header<'a>(r: &'a HttpRequest, name: &str) -> &'a str {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    #[test]
    fn account_requests_are_signed_gets() {
        let p = BYBIT_ACCOUNT.positions_request(&ctx(), &creds());
        let q = "category=linear&settleCoin=USDT&limit=200";
        assert_eq!(p.url, format!("https://api.bybit.com/v5/position/list?{q}"));
        assert_eq!(
            header(&p, "X-BAPI-SIGN"),
            sign("test-secret", &format!("1700000000000test-key5000{q}"))
        );
        let b = BYBIT_ACCOUNT.balance_request(&ctx(), &creds());
        assert_eq!(
            b.url,
            "https://api.bybit.com/v5/account/wallet-balance?accountType=UNIFIED&coin=USDT"
        );
        let o = order(Exchange::Bybit, "0.01", None);
        let f = BYBIT_ACCOUNT.fees_request(&ctx(), &creds(), &o, &ack("0.01"));
        assert_eq!(
            f.url,
            "https://api.bybit.com/v5/execution/list?category=linear&symbol=BTCUSDT&orderLinkId=hx0123456789abcdef0123456789abcd&limit=100"
        );
        for r in [p, b, f] {
            assert_eq!(r.method, crate::venue::Method::Get);
            assert_eq!(r.body, None);
        }
    }

    const BYBIT_ACCOUNT: Bybit = Bybit;

    /// The documented response example of Get Position Info (an inverse position; linear
    /// answers have the same fields), and a linear list in that shape.
    const DOC_POSITIONS: &str = r#"{
    "retCode": 0,
    "retMsg": "OK",
    "result": {
        "list": [
            {
                "positionIdx": 0,
                "riskId": 1,
                "riskLimitValue": "150",
                "symbol": "BTCUSD",
                "side": "Sell",
                "size": "300",
                "avgPrice": "27464.50441675",
                "positionValue": "0.01092319",
                "tradeMode": 0,
                "positionStatus": "Normal",
                "autoAddMargin": 1,
                "adlRankIndicator": 2,
                "leverage": "10",
                "positionBalance": "0.00139186",
                "markPrice": "28224.50",
                "liqPrice": "",
                "bustPrice": "999999.00",
                "positionMM": "0.0000015",
                "positionIM": "0.00010923",
                "tpslMode": "Full",
                "takeProfit": "0.00",
                "stopLoss": "0.00",
                "trailingStop": "0.00",
                "unrealisedPnl": "-0.00029413",
                "cumRealisedPnl": "-0.00096902",
                "seq": 5723621632,
                "isReduceOnly": false,
                "mmrSysUpdateTime": "",
                "leverageSysUpdatedTime": "",
                "createdTime": "1676538056258",
                "updatedTime": "1697673600012"
            }
        ],
        "nextPageCursor": "",
        "category": "inverse"
    },
    "retExtInfo": {},
    "time": 1697684980172
}"#;

    #[test]
    fn parses_the_documented_position() {
        let p = BYBIT_ACCOUNT
            .parse_positions(&response(200, DOC_POSITIONS))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(p.complete);
        assert_eq!(p.positions.len(), 1);
        let x = &p.positions[0];
        assert_eq!(x.symbol.canonical(), "BTCUSD");
        assert_eq!(x.side, PositionSide::Short);
        assert_eq!(x.size, d("300"));
        assert_eq!(x.entry_price, Some(d("27464.50441675")));
        assert_eq!(x.mark_price, Some(d("28224.5")));
        assert_eq!(x.unrealised_pnl, Some(d("-0.00029413")));
        assert_eq!(x.leverage, Some(d("10")));
        // tradeMode 0 is deprecated on UTA: it says nothing.
        assert_eq!(x.margin_mode, None);
        for (idx, hedge_leg) in [(0, false), (1, true), (2, true)] {
            let item = serde_json::json!({"positionIdx": idx, "symbol": "BTCUSDT", "side": "Buy", "size": "0.01"});
            let p = position_of(&item).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.map(|p| p.hedge_leg), Some(hedge_leg), "positionIdx {idx}");
        }
    }

    #[test]
    fn empty_positions_pages_and_foreign_symbols() {
        let body = r#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[
            {"positionIdx":0,"symbol":"ETHUSDT","side":"","size":"0","avgPrice":"0","markPrice":"3000","unrealisedPnl":"","leverage":"10","tradeMode":0},
            {"positionIdx":0,"symbol":"BTCUSDT","side":"Buy","size":"0.010","avgPrice":"65000","markPrice":"65100","unrealisedPnl":"1","leverage":"","tradeMode":1},
            {"positionIdx":0,"symbol":"BTC-26DEC25","side":"Buy","size":"1","avgPrice":"1","markPrice":"1","unrealisedPnl":"0","leverage":"5","tradeMode":0}
        ],"nextPageCursor":"abc"},"retExtInfo":{},"time":1}"#;
        let p = BYBIT_ACCOUNT
            .parse_positions(&response(200, body))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.complete, "a next page: not the whole truth");
        assert_eq!(p.positions.len(), 1);
        assert_eq!(p.positions[0].size, d("0.01"));
        assert_eq!(p.positions[0].leverage, None);
        assert_eq!(p.positions[0].margin_mode, Some(MarginMode::Isolated));
        assert_eq!(p.unrecognised, vec!["BTC-26DEC25".to_owned()]);
        let refused = r#"{"retCode":10003,"retMsg":"API key is invalid.","result":{},"time":1}"#;
        assert_eq!(
            BYBIT_ACCOUNT
                .parse_positions(&response(200, refused))
                .err()
                .map(|e| e.class),
            Some(ErrorClass::Terminal)
        );
        assert_eq!(
            BYBIT_ACCOUNT
                .parse_positions(&response(502, "bad gateway"))
                .err()
                .map(|e| e.class),
            Some(ErrorClass::Retryable {
                retry_after_seconds: None
            })
        );
    }

    /// The documented response example of Get Wallet Balance (a BTC coin), with USDT beside.
    #[test]
    fn parses_the_usdt_wallet() {
        let body = r#"{"retCode":0,"retMsg":"OK","result":{"list":[{"totalEquity":"18070.32797922","accountIMRate":"0.0101","totalMarginBalance":"18070.32797922","totalInitialMargin":"182.60183684","accountType":"UNIFIED","totalAvailableBalance":"17887.72614237","accountMMRate":"0","totalPerpUPL":"-0.11001349","totalWalletBalance":"18070.43799271","totalMaintenanceMargin":"0.38106773","coin":[{"availableToBorrow":"2.5","bonus":"0","accruedInterest":"0","availableToWithdraw":"0.805994","totalOrderIM":"0","equity":"0.805994","totalPositionMM":"0","usdValue":"12920.95352538","unrealisedPnl":"0","borrowAmount":"0","totalPositionIM":"0","walletBalance":"0.805994","cumRealisedPnl":"0","coin":"BTC"},{"equity":"5099.89","usdValue":"5099.2","unrealisedPnl":"-0.11","walletBalance":"5100","coin":"USDT"}]}]},"retExtInfo":{},"time":1672125441042}"#;
        let b = BYBIT_ACCOUNT
            .parse_balance(&response(200, body))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            b,
            Balance {
                asset: "USDT".into(),
                wallet_balance: d("5100"),
                unrealised_pnl: Some(d("-0.11")),
                equity: d("5099.89"),
            }
        );
        let none = r#"{"retCode":0,"retMsg":"OK","result":{"list":[{"accountType":"UNIFIED","coin":[]}]},"time":1}"#;
        let b = BYBIT_ACCOUNT
            .parse_balance(&response(200, none))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.equity, Decimal::ZERO);
        let no_account = r#"{"retCode":0,"retMsg":"OK","result":{"list":[]},"time":1}"#;
        assert!(BYBIT_ACCOUNT
            .parse_balance(&response(200, no_account))
            .is_err());
    }

    fn ack(filled: &str) -> OrderAck {
        OrderAck {
            client_order_id: "hx0123456789abcdef0123456789abcd".into(),
            exchange_order_id: "42".into(),
            status: "Filled".into(),
            filled_quantity: d(filled),
            average_price: Some(d("65000")),
        }
    }

    fn execution(qty: &str, fee: &str) -> String {
        format!(
            r#"{{"symbol":"BTCUSDT","orderType":"Market","orderLinkId":"hx0123456789abcdef0123456789abcd","side":"Buy","orderId":"42","leavesQty":"0","execTime":"1672282722429","feeCurrency":"","isMaker":false,"execFee":"{fee}","feeRate":"0.00055","execId":"e{qty}","execPrice":"65000","orderQty":"0.01","orderPrice":"0","execValue":"650","execType":"Trade","execQty":"{qty}","closedSize":"","seq":1}}"#
        )
    }

    #[test]
    fn fees_are_the_executions_of_the_whole_fill() {
        let o = order(Exchange::Bybit, "0.01", None);
        let page = |items: &[String], cursor: &str| {
            format!(
                r#"{{"retCode":0,"retMsg":"OK","result":{{"nextPageCursor":"{cursor}","category":"linear","list":[{}]}},"retExtInfo":{{}},"time":1}}"#,
                items.join(",")
            )
        };
        let two = [execution("0.004", "0.143"), execution("0.006", "0.2145")];
        assert_eq!(
            BYBIT_ACCOUNT.parse_fees(&o, &ack("0.01"), &response(200, &page(&two, ""))),
            Ok(Some(Fee {
                amount: d("0.3575"),
                asset: "USDT".into()
            }))
        );
        // The list lags the order: fewer executions than the fill is no fee yet.
        assert_eq!(
            BYBIT_ACCOUNT.parse_fees(&o, &ack("0.01"), &response(200, &page(&two[..1], ""))),
            Ok(None)
        );
        // A next page: not all of them.
        assert_eq!(
            BYBIT_ACCOUNT.parse_fees(&o, &ack("0.01"), &response(200, &page(&two, "p2"))),
            Ok(None)
        );
        // Nothing filled, nothing listed: no fee, and that is known.
        assert_eq!(
            BYBIT_ACCOUNT.parse_fees(&o, &ack("0"), &response(200, &page(&[], ""))),
            Ok(Some(Fee {
                amount: Decimal::ZERO,
                asset: "USDT".into()
            }))
        );
    }

    #[test]
    fn parses_the_documented_execution() {
        let doc = r#"{"retCode":0,"retMsg":"OK","result":{"nextPageCursor":"","category":"linear","list":[{"symbol":"ETHPERP","orderType":"Market","underlyingPrice":"","orderLinkId":"hx0123456789abcdef0123456789abcd","side":"Buy","indexPrice":"","orderId":"8c065341-7b52-4ca9-ac2c-37e31ac55c94","stopOrderType":"UNKNOWN","leavesQty":"0","execTime":"1672282722429","feeCurrency":"","isMaker":false,"execFee":"0.071409","feeRate":"0.0006","execId":"e0cbe81d-0f18-5866-9415-cf319b5dab3b","tradeIv":"","blockTradeId":"","markPrice":"1183.54","execPrice":"1190.15","markIv":"","orderQty":"0.1","orderPrice":"1236.9","execValue":"119.015","execType":"Trade","execQty":"0.1","closedSize":"0.1","seq":4688002127,"extraFees":""}]},"retExtInfo":{},"time":1672283754510}"#;
        let o = order(Exchange::Bybit, "0.1", None);
        assert_eq!(
            BYBIT_ACCOUNT.parse_fees(&o, &ack("0.1"), &response(200, doc)),
            Ok(Some(Fee {
                amount: d("0.071409"),
                asset: "USDT".into()
            }))
        );
        assert!(BYBIT_ACCOUNT.nets_sides());
    }
}
