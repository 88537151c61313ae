//! Properties of the risk rules over generated inputs: no action without a breach, ladder closes
//! never above the position, no non-positive threshold accepted, evaluation deterministic.

use contracts::signal::Exchange;
use contracts::symbol::Symbol;
use proptest::prelude::*;
use risk::evaluate::*;
use risk::rules::{self, validate};
use risk::RuleSet;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

const T0: u64 = 1_700_000_000_000;

/// A decimal in `(0, 1000]` with up to 4 places.
fn price() -> impl Strategy<Value = Decimal> {
    (1i64..=10_000_000).prop_map(|n| Decimal::new(n, 4))
}

/// A percentage in `(0, 50]` with up to 2 places.
fn small_pct() -> impl Strategy<Value = Decimal> {
    (1i64..=5_000).prop_map(|n| Decimal::new(n, 2))
}

fn ladder() -> impl Strategy<Value = (String, Vec<(Decimal, Decimal)>)> {
    prop::collection::vec((small_pct(), 1i64..=40), 1..=5).prop_map(|raw| {
        let mut profit = Decimal::ZERO;
        let mut left = 100i64;
        let mut targets = Vec::new();
        for (step, share) in raw {
            profit += step;
            let share = share.min(left);
            if share == 0 {
                break;
            }
            left -= share;
            targets.push((profit, Decimal::from(share)));
        }
        let json = format!(
            r#"{{"targets": [{}], "breakeven_after_first": true}}"#,
            targets
                .iter()
                .map(|(p, s)| format!(r#"{{"profit_pct": "{p}", "share_pct": {s}}}"#))
                .collect::<Vec<_>>()
                .join(", ")
        );
        (json, targets)
    })
}

fn rule_set(sl: Decimal, trail: Decimal, ladder: &str, roi: Decimal) -> RuleSet {
    let trailing = format!(r#"{{"distance_pct": "{trail}", "activation_pct": "{trail}"}}"#);
    let roi = format!(
        r#"[{{"after_minutes": 0, "profit_pct": "{}"}}]"#,
        roi * Decimal::TWO
    );
    let sl = sl.to_string();
    let (set, errors) = RuleSet::load([
        (rules::STOP_LOSS_PCT, sl.as_str()),
        (rules::TRAILING, trailing.as_str()),
        (rules::TAKE_PROFIT_LADDER, ladder),
        (rules::ROI_TABLE, roi.as_str()),
    ]);
    assert!(errors.is_empty(), "{errors:?}");
    set
}

fn position(
    side: bool,
    entry: Decimal,
    mark: Option<Decimal>,
    size: Decimal,
    step: Option<Decimal>,
) -> Position {
    Position {
        id: PositionId {
            exchange: Exchange::Binance,
            network: Network::Mainnet,
            symbol: Symbol::parse("ETHUSDT").unwrap(),
            side: if side { Side::Long } else { Side::Short },
            opened_at_ms: T0,
        },
        size,
        entry_price: entry,
        mark_price: mark,
        lot_step: step,
    }
}

fn run(
    rules: &RuleSet,
    positions: &[Position],
    states: &BTreeMap<PositionId, PositionState>,
) -> Evaluation {
    evaluate(Input {
        rules,
        positions,
        states,
        accounts: &[],
        exits: &[],
        paused: &[],
        now_ms: T0 + 60_000,
    })
}

proptest! {
    /// Every close is justified by the rule it names, recomputed from the inputs; a position
    /// between its stop and its first profit target, never armed, is left alone.
    #[test]
    fn no_action_without_a_breach(
        long in any::<bool>(),
        entry in price(),
        mark in price(),
        sl in small_pct(),
        trail in small_pct(),
        (ladder_json, targets) in ladder(),
        roi in small_pct(),
    ) {
        let rules = rule_set(sl, trail, &ladder_json, roi);
        let p = position(long, entry, Some(mark), Decimal::ONE, None);
        let e = run(&rules, std::slice::from_ref(&p), &BTreeMap::new());
        let profit = profit_pct(p.id.side, entry, mark).unwrap();
        for c in e.closes() {
            match c.reason {
                CloseReason::StopLoss { limit, .. } => prop_assert!(-profit >= limit.get()),
                CloseReason::TakeProfit { target, .. } => prop_assert!(profit >= target.get()),
                CloseReason::Roi { target, .. } => prop_assert!(profit >= target.get()),
                // Armed this minute at the mark, it cannot also be hit.
                CloseReason::Trailing { .. } => prop_assert!(false, "trailing hit on arming"),
                CloseReason::Breakeven { .. } | CloseReason::Flatten(_) | CloseReason::OperatorFlatten => prop_assert!(false, "{:?}", c.reason),
            }
        }
        let first = targets[0].0;
        if -profit < sl && profit < first && profit < trail && profit < roi * Decimal::TWO {
            prop_assert!(e.actions.is_empty(), "{:?}", e.actions);
        }
    }

    /// Whatever the ladder, the state and the lot step, the closes of one evaluation sum to at
    /// most the open size (`All` counting as what is left).
    #[test]
    fn ladder_closes_never_exceed_the_position(
        (ladder_json, _) in ladder(),
        size in price(),
        step in prop::option::of(prop::sample::select(vec!["0.001", "0.01", "0.1", "1"])),
        done in 0usize..6,
        profit in 0i64..400,
    ) {
        let (rules, errors) = RuleSet::load([(rules::TAKE_PROFIT_LADDER, ladder_json.as_str())]);
        prop_assert!(errors.is_empty());
        let mark = Decimal::ONE_HUNDRED + Decimal::from(profit);
        let p = position(true, Decimal::ONE_HUNDRED, Some(mark), size, step.map(|s| s.parse().unwrap()));
        let states = BTreeMap::from([(p.id.clone(), PositionState { ladder_done: done, ..Default::default() })]);
        let e = run(&rules, std::slice::from_ref(&p), &states);
        let mut closed = Decimal::ZERO;
        for c in e.closes() {
            prop_assert!(closed <= size);
            closed += match c.quantity {
                Quantity::All => size - closed,
                Quantity::Exact(q) => { prop_assert!(q > Decimal::ZERO); q }
                Quantity::Share(s) => { prop_assert!(s > Decimal::ZERO && s <= Decimal::ONE_HUNDRED); size * s / Decimal::ONE_HUNDRED }
            };
        }
        prop_assert!(closed <= size, "{closed} > {size}: {:?}", e.actions);
    }

    /// A zero or negative number is refused for every threshold, in every position it can take.
    #[test]
    fn non_positive_thresholds_are_refused(n in -1_000_000i64..=0, scale in 0u32..4, as_string in any::<bool>()) {
        let v = Decimal::new(n, scale);
        let v = if as_string { format!("\"{v}\"") } else { v.to_string() };
        for (key, json) in [
            (rules::STOP_LOSS_PCT, v.clone()),
            (rules::MAX_DAILY_LOSS_PCT, v.clone()),
            (rules::MAX_DRAWDOWN_PCT, v.clone()),
            ("risk:stop_loss_pct:BTCUSDT", v.clone()),
            (rules::TRAILING, format!(r#"{{"distance_pct": {v}}}"#)),
            (rules::TRAILING, format!(r#"{{"distance_pct": 1, "activation_pct": {v}}}"#)),
            (rules::TAKE_PROFIT_LADDER, format!(r#"{{"targets": [{{"profit_pct": {v}, "share_pct": 10}}]}}"#)),
            (rules::TAKE_PROFIT_LADDER, format!(r#"{{"targets": [{{"profit_pct": 1, "share_pct": {v}}}]}}"#)),
            (rules::ROI_TABLE, format!(r#"[{{"after_minutes": 5, "profit_pct": {v}}}]"#)),
        ] {
            let r = validate(key, &json);
            prop_assert!(matches!(r, Err(risk::RuleError::OutOfBounds { .. })), "{} = {}: {:?}", key, json, r);
        }
    }

    /// Same input, same output (keys, quantities, notes, state), whatever the input's order.
    #[test]
    fn evaluation_is_deterministic(
        marks in prop::collection::vec(prop::option::of(price()), 1..4),
        entry in price(),
        sl in small_pct(),
        trail in small_pct(),
        (ladder_json, _) in ladder(),
        roi in small_pct(),
    ) {
        let rules = rule_set(sl, trail, &ladder_json, roi);
        let mut positions: Vec<Position> = marks.iter().enumerate().map(|(i, m)| {
            let mut p = position(i % 2 == 0, entry, *m, Decimal::ONE, Some(Decimal::new(1, 3)));
            p.id.opened_at_ms = T0 - i as u64;
            p
        }).collect();
        let a = run(&rules, &positions, &BTreeMap::new());
        prop_assert_eq!(&a, &run(&rules, &positions, &BTreeMap::new()));
        positions.reverse();
        prop_assert_eq!(&a, &run(&rules, &positions, &BTreeMap::new()));
        // Carrying the state forward and evaluating the same minute again closes nothing new
        // from the ladder.
        let b = run(&rules, &positions, &a.states);
        let again = b.closes().any(|c| matches!(c.reason, CloseReason::TakeProfit { .. }));
        prop_assert!(!again, "{:?}", b.actions);
    }
}
