//! MEXC futures' account reads, from the contract API documentation
//! (<https://mexcdevelop.github.io/apidocs/contract_v1_en/>, source `mexcdevelop/apidocs`,
//! branch `contract_v1_en`, `source/index.html.md`, checked at commit `84922b1`):
//!
//! - **Positions** — "Get the user's current holding position":
//!   `GET api/v1/private/position/open_positions` (`symbol` optional), each with `symbol`
//!   (`BTC_USDT`), `positionType` ("1 long 2 short"), `holdVol` ("holding volume", in
//!   contracts), `holdAvgPrice` ("holdings average price"), `openType` ("1 isolated 2 cross"),
//!   `state` ("1holding. 2 system auto-holding 3 closed"), `leverage` (in the example). The
//!   answer has no mark price and no unrealised PnL: both stay unknown.
//! - **Wallet** — "Get all informations of user's asset": `GET api/v1/private/account/assets`,
//!   per `currency`: `equity` ("total equity"), `unrealized` ("unrealized profit and loss"),
//!   `cashBalance`, `availableBalance`, `frozenBalance`, `positionMargin`. The wallet balance
//!   is `equity − unrealized` (equity is the wallet plus unrealised PnL).
//! - **Fees** — "Query the order based on the external number":
//!   `GET api/v1/private/order/external/{symbol}/{external_oid}`, whose order carries
//!   `takerFee` ("taker fee"), `makerFee` ("maker fee") and `feeCurrency`: the order's fees
//!   are their sum. (Its fills are also listed by "Get all transaction details of the user's
//!   order", `GET api/v1/private/order/deal_details/{order_id}`, with a `fee` each; the order's
//!   own totals need one answer, not a sum over a list.) Code 2040 "order not exist" leaves
//!   the fee unknown.
//!
//! MEXC keeps long and short positions of a symbol apart (`positionType`), and hoox opens and
//! closes each side explicitly (order sides 1–4): [`Account::nets_sides`] is false.

use super::{answer, Mexc, ORDER_NOT_EXIST};
use crate::account::{
    sum_fees, Account, Balance, ExchangePosition, MarginMode, PositionSide, Positions,
};
use crate::order::OrderRequest;
use crate::venue::{
    Context, Credentials, ErrorClass, ExchangeError, HttpRequest, HttpResponse, Method, Venue,
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
        Exchange::Mexc,
        ErrorClass::Retryable {
            retry_after_seconds: None,
        },
        resp.status,
        None,
        format!("{what}: {}", excerpt(&resp.body)),
    )
}

fn position_of(item: &Value) -> Result<Option<ExchangePosition>, String> {
    if item.get("state").and_then(Value::as_i64) == Some(3) {
        return Ok(None);
    }
    let side = match item.get("positionType").and_then(Value::as_i64) {
        Some(1) => PositionSide::Long,
        Some(2) => PositionSide::Short,
        _ => return Ok(None),
    };
    let size = num(item, "holdVol").unwrap_or(Decimal::ZERO);
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
        entry_price: num(item, "holdAvgPrice")
            .or_else(|| num(item, "openAvgPrice"))
            .filter(|p| *p > Decimal::ZERO),
        mark_price: None,
        unrealised_pnl: None,
        leverage: num(item, "leverage").filter(|l| *l > Decimal::ZERO),
        margin_mode: match item.get("openType").and_then(Value::as_i64) {
            Some(1) => Some(MarginMode::Isolated),
            Some(2) => Some(MarginMode::Cross),
            _ => None,
        },
        // MEXC keeps every position apart by side (`positionType` 1 long, 2 short).
        hedge_leg: true,
    }))
}

impl Account for Mexc {
    fn positions_request(&self, ctx: &Context, creds: &Credentials) -> HttpRequest {
        Self::signed(
            ctx,
            creds,
            Method::Get,
            "/api/v1/private/position/open_positions",
            String::new(),
            None,
        )
    }

    fn parse_positions(&self, resp: &HttpResponse) -> Result<Positions, ExchangeError> {
        let data = answer(Call::Query, resp)?;
        let items: &[Value] = match &data {
            Value::Array(items) => items,
            Value::Null => &[],
            _ => return Err(unreadable(resp, "positions answer is not a list")),
        };
        let mut out = Positions {
            positions: Vec::new(),
            complete: true,
            unrecognised: Vec::new(),
        };
        for item in items {
            match position_of(item) {
                Ok(Some(p)) => out.positions.push(p),
                Ok(None) => {}
                Err(symbol) => out.unrecognised.push(symbol),
            }
        }
        Ok(out)
    }

    fn balance_request(&self, ctx: &Context, creds: &Credentials) -> HttpRequest {
        Self::signed(
            ctx,
            creds,
            Method::Get,
            "/api/v1/private/account/assets",
            String::new(),
            None,
        )
    }

    fn parse_balance(&self, resp: &HttpResponse) -> Result<Balance, ExchangeError> {
        let data = answer(Call::Query, resp)?;
        let assets = data
            .as_array()
            .ok_or_else(|| unreadable(resp, "assets answer is not a list"))?;
        let Some(usdt) = assets
            .iter()
            .find(|a| a.get("currency").and_then(Value::as_str) == Some("USDT"))
        else {
            return Ok(Balance::no_usdt());
        };
        let equity = num(usdt, "equity").ok_or_else(|| unreadable(resp, "USDT equity missing"))?;
        let unrealised = num(usdt, "unrealized");
        let wallet = contracts::amount::sub(equity, unrealised.unwrap_or(Decimal::ZERO))
            .map_err(|e| unreadable(resp, &e.to_string()))?;
        Balance::usdt(wallet, unrealised, Some(equity))
            .map_err(|e| unreadable(resp, &e.to_string()))
    }

    fn fees_request(
        &self,
        ctx: &Context,
        creds: &Credentials,
        order: &OrderRequest,
        _ack: &OrderAck,
    ) -> HttpRequest {
        // The order by its external id carries its fees: the lookup's own request.
        self.query_request(ctx, creds, order)
    }

    fn parse_fees(
        &self,
        _order: &OrderRequest,
        _ack: &OrderAck,
        resp: &HttpResponse,
    ) -> Result<Option<Fee>, ExchangeError> {
        let data = match answer(Call::Query, resp) {
            Ok(data) => data,
            Err(e) if e.code.as_deref() == Some(ORDER_NOT_EXIST.to_string().as_str()) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        if data.is_null() {
            return Ok(None);
        }
        let (Some(taker), Some(maker)) = (num(&data, "takerFee"), num(&data, "makerFee")) else {
            return Ok(None);
        };
        let asset = data
            .get("feeCurrency")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .unwrap_or("USDT")
            .to_owned();
        Ok(sum_fees([taker, maker]).map(|amount| Fee {
            amount: amount.normalize(),
            asset,
        }))
    }

    fn nets_sides(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{creds, ctx_at, d, order, response};

    const M: Mexc = Mexc;

    fn ctx() -> Context {
        ctx_at("https://contract.mexc.com")
    }

    #[test]
    fn account_requests_are_signed_gets_with_no_parameters() {
        let p = M.positions_request(&ctx(), &creds());
        assert_eq!(
            p.url,
            "https://contract.mexc.com/api/v1/private/position/open_positions"
        );
        let signature = p
            .headers
            .iter()
            .find(|(k, _)| k == "Signature")
            .map(|(_, v)| v.clone());
        assert_eq!(
            signature.as_deref(),
            Some(
                crate::signing::sign(
                    "test-secret",
                    &crate::signing::mexc_payload("test-key", 1_700_000_000_000, "")
                )
                .as_str()
            )
        );
        let b = M.balance_request(&ctx(), &creds());
        assert_eq!(
            b.url,
            "https://contract.mexc.com/api/v1/private/account/assets"
        );
        let o = order(Exchange::Mexc, "0.01", None);
        let f = M.fees_request(&ctx(), &creds(), &o, &ack());
        assert_eq!(
            f.url,
            "https://contract.mexc.com/api/v1/private/order/external/BTC_USDT/hx0123456789abcdef0123456789abcd"
        );
        for r in [p, b, f] {
            assert_eq!(r.method, Method::Get);
            assert_eq!(r.body, None);
        }
    }

    /// The documented response example of "Get the user's current holding position".
    const DOC_POSITIONS: &str = r#"{"success":true,"code":0,"data":[{"positionId":1394650,"symbol":"ETH_USDT","positionType":1,"openType":1,"state":1,"holdVol":1,"frozenVol":0,"closeVol":0,"holdAvgPrice":1217.3,"openAvgPrice":1217.3,"closeAvgPrice":0,"liquidatePrice":1211.2,"oim":0.1290338,"im":0.1290338,"holdFee":0,"realised":-0.0073,"leverage":100,"createTime":1609991676000,"updateTime":1609991676000,"autoAddIm":false}]}"#;

    #[test]
    fn parses_the_documented_position() {
        let p = M
            .parse_positions(&response(200, DOC_POSITIONS))
            .unwrap_or_else(|e| panic!("{e}"));
        let x = &p.positions[0];
        assert_eq!(x.symbol.canonical(), "ETHUSDT");
        assert_eq!(x.exchange_symbol, "ETH_USDT");
        assert_eq!((x.side, x.size), (PositionSide::Long, Decimal::ONE));
        assert_eq!(x.entry_price, Some(d("1217.3")));
        assert_eq!(x.leverage, Some(d("100")));
        assert_eq!(x.margin_mode, Some(MarginMode::Isolated));
        assert_eq!((x.mark_price, x.unrealised_pnl), (None, None));
        let closed = DOC_POSITIONS.replace(r#""state":1"#, r#""state":3"#);
        assert!(M
            .parse_positions(&response(200, &closed))
            .unwrap_or_else(|e| panic!("{e}"))
            .positions
            .is_empty());
        let short = DOC_POSITIONS
            .replace(r#""positionType":1"#, r#""positionType":2"#)
            .replace(r#""openType":1"#, r#""openType":2"#);
        let x = M
            .parse_positions(&response(200, &short))
            .unwrap_or_else(|e| panic!("{e}"))
            .positions;
        assert_eq!(
            (x[0].side, x[0].margin_mode),
            (PositionSide::Short, Some(MarginMode::Cross))
        );
        let refused = r#"{"success":false,"code":602,"message":"Verify failed"}"#;
        assert_eq!(
            M.parse_positions(&response(200, refused))
                .err()
                .map(|e| e.class),
            Some(ErrorClass::Terminal)
        );
        assert!(!M.nets_sides());
    }

    #[test]
    fn parses_the_documented_assets() {
        let doc = r#"{"success":true,"code":0,"data":[{"currency":"BTC","positionMargin":0,"availableBalance":0,"cashBalance":0,"frozenBalance":0,"equity":0,"unrealized":0,"bonus":0},{"currency":"USDT","positionMargin":0,"availableBalance":0.03176562,"cashBalance":0.03176562,"frozenBalance":0,"equity":0.03176562,"unrealized":0,"bonus":0}]}"#;
        assert_eq!(
            M.parse_balance(&response(200, doc)),
            Ok(Balance {
                asset: "USDT".into(),
                wallet_balance: d("0.03176562"),
                unrealised_pnl: Some(Decimal::ZERO),
                equity: d("0.03176562"),
            })
        );
        let open = doc.replace(
            r#""equity":0.03176562,"unrealized":0"#,
            r#""equity":105.5,"unrealized":5.5"#,
        );
        let b = M
            .parse_balance(&response(200, &open))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((b.wallet_balance, b.equity), (d("100"), d("105.5")));
    }

    fn ack() -> OrderAck {
        OrderAck {
            client_order_id: "_m_f95eb99b061d4eef8f64a04e9ac4dad3".into(),
            exchange_order_id: "102015012431820288".into(),
            status: "Filled".into(),
            filled_quantity: d("0.01"),
            average_price: Some(d("1208.35")),
        }
    }

    #[test]
    fn fees_are_the_orders_taker_and_maker_fees() {
        let o = order(Exchange::Mexc, "0.01", None);
        let doc = r#"{"success":true,"code":0,"data":{"orderId":"102015012431820288","symbol":"ETH_USDT","positionId":1394917,"price":1209.05,"vol":1,"leverage":0,"side":2,"category":1,"orderType":5,"dealAvgPrice":1208.35,"dealVol":1,"orderMargin":0,"takerFee":0.0072501,"makerFee":0,"profit":0,"feeCurrency":"USDT","openType":1,"state":3,"externalOid":"_m_f95eb99b061d4eef8f64a04e9ac4dad3","errorCode":0,"usedMargin":0,"createTime":1609992674000,"updateTime":1609992674000}}"#;
        assert_eq!(
            M.parse_fees(&o, &ack(), &response(200, doc)),
            Ok(Some(Fee {
                amount: d("0.0072501"),
                asset: "USDT".into()
            }))
        );
        let gone = r#"{"success":false,"code":2040,"message":"order not exist"}"#;
        assert_eq!(M.parse_fees(&o, &ack(), &response(200, gone)), Ok(None));
        let no_fee = doc.replace(r#""takerFee":0.0072501,"#, "");
        assert_eq!(M.parse_fees(&o, &ack(), &response(200, &no_fee)), Ok(None));
    }
}
