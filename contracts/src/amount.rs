//! Money arithmetic that cannot panic.
//!
//! `rust_decimal`'s operators panic when a result does not fit (about ±7.9 × 10^28) or on a
//! division by zero, and a panic traps the whole Workers invocation. Every amount hoox computes
//! (notionals, contract conversions, rounding, position folds) goes through these functions
//! instead, so an overflow is an [`AmountError`] the caller turns into a refusal.
//!
//! Webhook amounts are bounded at validation ([`crate::signal::MAX_AMOUNT`],
//! [`crate::signal::MAX_AMOUNT_DECIMALS`]) so that the product of any two of them fits; these
//! checks are for what the bounds never saw: jobs encoded before them, exchange answers, ledger
//! rows, sums over many fills.

use rust_decimal::Decimal;
use std::fmt;

/// The operation that had no decimal result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "×",
            Self::Div => "/",
            Self::Rem => "%",
        })
    }
}

/// An amount computation with no decimal result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("{lhs} {op} {rhs} overflows a decimal (at most 79228162514264337593543950335)")]
    Overflow { op: Op, lhs: Decimal, rhs: Decimal },
    #[error("{lhs} {op} {rhs}: division by zero")]
    DivisionByZero { op: Op, lhs: Decimal, rhs: Decimal },
}

fn checked(
    op: Op,
    lhs: Decimal,
    rhs: Decimal,
    f: impl FnOnce(Decimal, Decimal) -> Option<Decimal>,
) -> Result<Decimal, AmountError> {
    f(lhs, rhs).ok_or(if matches!(op, Op::Div | Op::Rem) && rhs.is_zero() {
        AmountError::DivisionByZero { op, lhs, rhs }
    } else {
        AmountError::Overflow { op, lhs, rhs }
    })
}

/// `lhs + rhs`.
pub fn add(lhs: Decimal, rhs: Decimal) -> Result<Decimal, AmountError> {
    checked(Op::Add, lhs, rhs, |a, b| a.checked_add(b))
}

/// `lhs - rhs`.
pub fn sub(lhs: Decimal, rhs: Decimal) -> Result<Decimal, AmountError> {
    checked(Op::Sub, lhs, rhs, |a, b| a.checked_sub(b))
}

/// `lhs × rhs`.
pub fn mul(lhs: Decimal, rhs: Decimal) -> Result<Decimal, AmountError> {
    checked(Op::Mul, lhs, rhs, |a, b| a.checked_mul(b))
}

/// `lhs / rhs`.
pub fn div(lhs: Decimal, rhs: Decimal) -> Result<Decimal, AmountError> {
    checked(Op::Div, lhs, rhs, |a, b| a.checked_div(b))
}

/// `lhs % rhs`.
pub fn rem(lhs: Decimal, rhs: Decimal) -> Result<Decimal, AmountError> {
    checked(Op::Rem, lhs, rhs, |a, b| a.checked_rem(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn overflow_and_division_by_zero_are_errors() {
        let big = Decimal::MAX;
        assert_eq!(
            mul(big, Decimal::TWO),
            Err(AmountError::Overflow {
                op: Op::Mul,
                lhs: big,
                rhs: Decimal::TWO
            })
        );
        assert!(add(big, Decimal::ONE).is_err());
        assert!(sub(Decimal::MIN, Decimal::ONE).is_err());
        assert!(div(big, Decimal::new(1, 10)).is_err());
        assert!(matches!(
            div(Decimal::ONE, Decimal::ZERO),
            Err(AmountError::DivisionByZero { .. })
        ));
        assert!(matches!(
            rem(Decimal::ONE, Decimal::ZERO),
            Err(AmountError::DivisionByZero { .. })
        ));
        assert_eq!(mul(Decimal::TWO, Decimal::TWO), Ok(Decimal::from(4)));
        let e = mul(big, Decimal::TWO).unwrap_err().to_string();
        assert!(e.contains("overflows a decimal"), "{e}");
    }

    fn any_decimal() -> impl Strategy<Value = Decimal> {
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            0u32..=28,
        )
            .prop_map(|(lo, mid, hi, neg, scale)| Decimal::from_parts(lo, mid, hi, neg, scale))
    }

    proptest! {
        /// Never a panic, and whenever the operator would not have panicked, the same value.
        #[test]
        fn checked_ops_never_panic(a in any_decimal(), b in any_decimal()) {
            for (r, plain) in [
                (add(a, b), a.checked_add(b)),
                (sub(a, b), a.checked_sub(b)),
                (mul(a, b), a.checked_mul(b)),
                (div(a, b), a.checked_div(b)),
                (rem(a, b), a.checked_rem(b)),
            ] {
                prop_assert_eq!(r.ok(), plain);
            }
        }
    }
}
