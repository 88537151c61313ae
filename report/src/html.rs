//! The report as one self-contained HTML page (no external CSS, fonts, scripts or images), laid
//! out for A4 print: what Browser Rendering turns into the PDF, and what is served as `.html`
//! when no PDF could be made.
//!
//! Written by hand rather than with a template crate: the page is a few fixed blocks, and the
//! one rule that matters — every text from the ledger (symbols, exchange names) goes through
//! [`escape`] — is easier to check in one function than in a template language's escaping
//! settings. The charts are inline SVG polylines scaled here: an equity curve and the drawdown
//! below it, per section.

use crate::metrics::{CurvePoint, Report, Row, SectionReport, MIN_DAYS_FOR_RATIOS};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::fmt::Write as _;

/// `&`, `<`, `>`, `"` and `'` as entities.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `1,234.57` style USDT with two decimals and a sign for negatives.
pub fn usdt(d: Decimal) -> String {
    // Half away from zero, as people round money (rust_decimal's default is banker's).
    let r = d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    let neg = r.is_sign_negative() && !r.is_zero();
    let text = format!("{:.2}", r.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}{grouped}.{frac}", if neg { "−" } else { "" })
}

fn opt_usdt(d: Option<Decimal>) -> String {
    d.map_or_else(|| "—".into(), usdt)
}

fn opt_pct(d: Option<Decimal>) -> String {
    d.map_or_else(|| "—".into(), |p| format!("{}%", p.round_dp(2)))
}

fn class(d: Decimal) -> &'static str {
    if d > Decimal::ZERO {
        "pos"
    } else if d < Decimal::ZERO {
        "neg"
    } else {
        ""
    }
}

const STYLE: &str = r#"
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #1d2433; font-size: 10.5pt; margin: 0; }
header { border-bottom: 3px solid #1f4e8c; padding-bottom: 6px; margin-bottom: 10px; }
h1 { font-size: 20pt; margin: 0; color: #1f4e8c; }
.sub { color: #5b6475; font-size: 9.5pt; }
h2 { font-size: 13pt; margin: 14px 0 6px; color: #1f4e8c; border-bottom: 1px solid #c9d3e3; }
h3 { font-size: 10.5pt; margin: 8px 0 4px; }
.kpis { display: grid; grid-template-columns: repeat(4, 1fr); gap: 6px; }
.kpi { background: #f2f5fa; border-radius: 4px; padding: 5px 7px; }
.kpi .l { font-size: 8pt; color: #5b6475; text-transform: uppercase; letter-spacing: .03em; }
.kpi .v { font-size: 12.5pt; font-weight: bold; }
.pos { color: #17803d; } .neg { color: #b42318; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; margin-top: 6px; }
.chart { border: 1px solid #d6dce8; border-radius: 4px; padding: 4px; }
.chart .t { font-size: 8.5pt; color: #5b6475; }
.tables { display: grid; grid-template-columns: 1fr 1fr 1fr; gap: 8px; }
table { width: 100%; border-collapse: collapse; font-size: 9pt; }
th, td { padding: 2px 4px; border-bottom: 1px solid #e3e8f0; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #e8edf5; font-weight: 600; }
tr { break-inside: avoid; }
section { break-inside: avoid-page; }
.note { font-size: 8pt; color: #5b6475; margin-top: 10px; }
.flag { color: #b54708; font-weight: bold; }
@media print { body { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"#;

fn kpi(out: &mut String, label: &str, value: &str, class: &str) {
    let _ = write!(
        out,
        r#"<div class="kpi"><div class="l">{}</div><div class="v {class}">{}</div></div>"#,
        escape(label),
        escape(value)
    );
}

/// A polyline chart of `values` over `times`, `w`×`h` px, filled below for the drawdown.
fn chart(points: &[(i64, f64)], w: f64, h: f64, color: &str, fill: bool) -> String {
    let pad = 4.0;
    if points.is_empty() {
        return String::new();
    }
    let (t0, t1) = (
        points.first().map_or(0, |p| p.0),
        points.last().map_or(1, |p| p.0),
    );
    let span = ((t1 - t0) as f64).max(1.0);
    let lo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let range = if (hi - lo).abs() < 1e-9 { 1.0 } else { hi - lo };
    let x = |t: i64| pad + ((t - t0) as f64 / span) * (w - 2.0 * pad);
    let y = |v: f64| pad + (1.0 - (v - lo) / range) * (h - 2.0 * pad);
    // A step line: equity changes at each close and holds until the next.
    let mut pts = Vec::new();
    let mut prev: Option<f64> = None;
    for &(t, v) in points {
        if let Some(p) = prev {
            pts.push(format!("{:.1},{:.1}", x(t), y(p)));
        }
        pts.push(format!("{:.1},{:.1}", x(t), y(v)));
        prev = Some(v);
    }
    let line = pts.join(" ");
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {w} {h}" preserveAspectRatio="none">"#
    );
    let _ = write!(
        svg,
        r##"<line x1="{pad}" y1="{b}" x2="{r}" y2="{b}" stroke="#d6dce8" stroke-width="1"/>"##,
        b = h - pad,
        r = w - pad
    );
    if fill {
        let _ = write!(
            svg,
            r#"<polygon points="{:.1},{:.1} {line} {:.1},{:.1}" fill="{color}" fill-opacity="0.25" stroke="none"/>"#,
            x(t0),
            y(hi),
            x(t1),
            y(hi)
        );
    }
    let _ = write!(
        svg,
        r#"<polyline points="{line}" fill="none" stroke="{color}" stroke-width="1.6"/></svg>"#
    );
    svg
}

fn curve_values(curve: &[CurvePoint], f: impl Fn(&CurvePoint) -> Decimal) -> Vec<(i64, f64)> {
    curve
        .iter()
        .map(|p| (p.at_ms, f(p).to_f64().unwrap_or(0.0)))
        .collect()
}

fn table(out: &mut String, title: &str, column: &str, rows: &[Row]) {
    let _ = write!(
        out,
        "<div><h3>{}</h3><table><tr><th>{}</th><th>Trades</th><th>Win</th><th>Net PnL</th><th>Fees</th></tr>",
        escape(title),
        escape(column)
    );
    if rows.is_empty() {
        out.push_str(r#"<tr><td colspan="5">No closed trades</td></tr>"#);
    }
    for r in rows {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="{}">{}</td><td>{}</td></tr>"#,
            escape(&r.name),
            r.trades,
            opt_pct(r.win_rate_pct()),
            class(r.net_pnl),
            usdt(r.net_pnl),
            usdt(r.fees)
        );
    }
    out.push_str("</table></div>");
}

fn section(out: &mut String, s: &SectionReport) {
    let _ = write!(out, "<section><h2>{}</h2>", escape(s.section.title()));
    if !s.complete {
        out.push_str(
            r#"<p class="flag">Some closed positions lack a price or a USDT fee: their figures are left out and the totals are incomplete.</p>"#,
        );
    }
    out.push_str(r#"<div class="kpis">"#);
    kpi(
        out,
        "Realised PnL (net)",
        &usdt(s.realised_pnl),
        class(s.realised_pnl),
    );
    kpi(out, "Fees", &usdt(s.fees), "");
    let unrealised = s.unrealised_pnl.map_or(Decimal::ZERO, |u| u);
    kpi(
        out,
        "Unrealised PnL (end)",
        &opt_usdt(s.unrealised_pnl),
        class(unrealised),
    );
    let ret = s.return_pct.unwrap_or_default();
    kpi(
        out,
        "Return on start equity",
        &opt_pct(s.return_pct),
        class(ret),
    );
    kpi(out, "Start equity", &opt_usdt(s.start_equity), "");
    kpi(out, "End equity", &opt_usdt(s.end_equity), "");
    kpi(out, "Trades (closed)", &s.trades.to_string(), "");
    kpi(out, "Win rate", &opt_pct(s.win_rate_pct), "");
    kpi(
        out,
        "Profit factor",
        &s.profit_factor
            .map_or_else(|| "—".into(), |p| p.round_dp(2).to_string()),
        "",
    );
    kpi(out, "Average win", &opt_usdt(s.avg_win), "pos");
    kpi(out, "Average loss", &opt_usdt(s.avg_loss), "neg");
    let dd = match s.max_drawdown_pct {
        Some(p) => format!("{} ({}%)", usdt(s.max_drawdown), p.round_dp(2)),
        None => usdt(s.max_drawdown),
    };
    kpi(
        out,
        "Max drawdown",
        &dd,
        if s.max_drawdown.is_zero() { "" } else { "neg" },
    );
    let trade = |t: &Option<crate::metrics::TradeLine>| {
        t.as_ref().map_or_else(
            || "—".into(),
            |t| format!("{} {}", t.symbol, usdt(t.net_pnl)),
        )
    };
    let sign = |t: &Option<crate::metrics::TradeLine>| t.as_ref().map_or("", |t| class(t.net_pnl));
    kpi(out, "Best trade", &trade(&s.best), sign(&s.best));
    kpi(out, "Worst trade", &trade(&s.worst), sign(&s.worst));
    let ratio = |r: Option<f64>| r.map_or_else(|| "—".into(), |r| format!("{r:.2}"));
    kpi(out, "Sharpe (daily, ann.)", &ratio(s.sharpe), "");
    kpi(out, "Sortino (daily, ann.)", &ratio(s.sortino), "");
    out.push_str("</div>");
    if s.sharpe.is_none() && s.return_days < MIN_DAYS_FOR_RATIOS {
        let _ = write!(
            out,
            r#"<p class="note">Sharpe and Sortino need {MIN_DAYS_FOR_RATIOS} days of daily returns and a starting equity ({} day(s) here).</p>"#,
            s.return_days
        );
    }
    let _ = write!(
        out,
        r#"<div class="charts"><div class="chart"><div class="t">Equity (USDT): start + realised PnL</div>{}</div><div class="chart"><div class="t">Drawdown from peak (USDT)</div>{}</div></div>"#,
        chart(
            &curve_values(&s.curve, |p| p.equity),
            360.0,
            120.0,
            "#1f4e8c",
            false
        ),
        chart(
            &curve_values(&s.curve, |p| -p.drawdown),
            360.0,
            120.0,
            "#b42318",
            true
        ),
    );
    out.push_str(r#"<div class="tables">"#);
    table(out, "By symbol", "Symbol", &s.by_symbol);
    table(out, "By exchange", "Exchange", &s.by_exchange);
    table(out, "Long vs short", "Side", &s.by_side);
    out.push_str("</div></section>");
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let title = format!("hoox {} {}", r.period.kind.title().to_lowercase(), r.label);
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{}</title><style>{STYLE}</style></head><body>"#,
        escape(&title)
    );
    let _ = write!(
        out,
        r#"<header><h1>{} — {}</h1><div class="sub">{} (UTC) · generated {} UTC · all amounts in USDT</div></header>"#,
        escape(r.period.kind.title()),
        escape(&r.label),
        escape(&r.period.span()),
        escape(&ops::utc::format(r.generated_at_ms, ops::utc::SECOND)),
    );
    if r.sections.is_empty() {
        out.push_str("<p>No trading activity and no equity snapshot in this period.</p>");
    }
    for s in &r.sections {
        section(&mut out, s);
    }
    let f = &r.funnel;
    let _ = write!(
        out,
        r#"<section><h2>Signals</h2><table><tr><th>Accepted</th><th>Filled</th><th>Rejected</th><th>Blocked</th><th>Dead-lettered</th><th>Dead letters pending now</th></tr><tr><td style="text-align:right">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="{}">{}</td></tr></table></section>"#,
        f.accepted,
        f.filled,
        f.rejected,
        f.blocked,
        f.dead_lettered,
        if r.pending_dead_letters > 0 {
            "flag"
        } else {
            ""
        },
        r.pending_dead_letters
    );
    out.push_str(
        r#"<p class="note">Realised PnL is that of positions closed in the period, net of the exchanges' own fees, from hoox's fills. A win has net PnL above zero. Return is realised PnL over the period's starting equity. The equity curve is starting equity plus each close's net PnL; drawdown is its fall from the running peak. Live, testnet and paper are never added together.</p>"#,
    );
    out.push_str("</body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{compute, Funnel, Ledger};
    use crate::period::{parse_date, Kind, Period};
    use ops::pnl::{fold, LedgerFill};
    use proptest::prelude::*;

    #[test]
    fn amounts_are_grouped_and_signed() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(usdt(d("1234567.891")), "1,234,567.89");
        assert_eq!(usdt(d("-53.025")), "−53.03");
        assert_eq!(usdt(d("-0.001")), "0.00");
        assert_eq!(usdt(d("100")), "100.00");
    }

    #[test]
    fn ledger_text_is_escaped_and_the_page_is_self_contained() {
        let fill = |action: &str, price: &str, at: i64| LedgerFill {
            client_order_id: format!("c{at}"),
            exchange: Some("bybit".into()),
            network: Some("mainnet".into()),
            symbol: "<script>alert(1)</script>".into(),
            action: Some(action.into()),
            filled_quantity: "1".into(),
            average_price: Some(price.into()),
            fee: Some("0.1".into()),
            fee_asset: Some("USDT".into()),
            created_at_ms: at,
        };
        let p = Period::containing(Kind::Daily, parse_date("2026-01-14").unwrap());
        let l = Ledger {
            books: fold(&[
                fill("LONG", "100", p.start_ms() + 1),
                fill("CLOSE_LONG", "110", p.start_ms() + 2),
            ])
            .unwrap(),
            funnel: Funnel::default(),
            ..Ledger::default()
        };
        let html = render(&compute(&p, &l, p.end_ms()).unwrap());
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("Daily report — 2026-01-14"));
        assert!(html.contains("<svg"));
        assert!(html.contains("9.80"), "net PnL 10 − 0.2 fees");
        for external in ["<link", "src=", "@import", "url("] {
            assert!(!html.contains(external), "{external}");
        }
    }

    proptest! {
        #[test]
        fn escape_leaves_no_markup(s in ".*") {
            let e = escape(&s);
            prop_assert!(!e.contains('<') && !e.contains('>') && !e.contains('"'));
        }
    }
}
