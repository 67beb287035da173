//! Partial and full refunds: sale and commission lowered pro rata.

use rust_decimal::Decimal;

use super::money::round_to_cents;

/// A conversion's amounts as first recorded and as they stand now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amounts {
    pub original_sale: Decimal,
    pub sale: Decimal,
    pub original_commission: Decimal,
    pub commission: Decimal,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefundError {
    #[error("the refund amount must be more than zero")]
    NotPositive,
    #[error("the refund amount {requested} is more than the {remaining} left on the order")]
    MoreThanRemaining { requested: Decimal, remaining: Decimal },
    #[error("the refund amount {requested} has more decimals than {currency} has")]
    TooPrecise { requested: Decimal, currency: String },
}

impl Amounts {
    /// The amounts after refunding `refund` of the sale. The commission is always
    /// recomputed from the original figures, so a chain of partial refunds never drifts
    /// and the commission pieces taken off add up to the original commission.
    pub fn refund(&self, refund: Decimal) -> Result<Amounts, RefundError> {
        if refund <= Decimal::ZERO {
            return Err(RefundError::NotPositive);
        }
        if refund > self.sale {
            return Err(RefundError::MoreThanRemaining {
                requested: refund,
                remaining: self.sale,
            });
        }
        let sale = self.sale - refund;
        let commission = if sale.is_zero() || self.original_sale.is_zero() {
            Decimal::ZERO
        } else {
            round_to_cents(self.original_commission * sale / self.original_sale)
        };
        Ok(Amounts {
            sale,
            commission,
            ..*self
        })
    }

    pub fn fully_refunded(&self) -> bool {
        self.sale.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn order(sale: &str, commission: &str) -> Amounts {
        Amounts {
            original_sale: d(sale),
            sale: d(sale),
            original_commission: d(commission),
            commission: d(commission),
        }
    }

    #[test]
    fn partial_then_full_refund() {
        let half = order("100.00", "10.00").refund(d("50.00")).unwrap();
        assert_eq!((half.sale, half.commission), (d("50.00"), d("5.00")));
        let third = order("99.99", "10.00").refund(d("33.33")).unwrap();
        assert_eq!((third.sale, third.commission), (d("66.66"), d("6.67")));
        let rest = half.refund(d("50.00")).unwrap();
        assert!(rest.fully_refunded());
        assert_eq!(rest.commission, Decimal::ZERO);
        assert_eq!(
            half.refund(d("50.01")),
            Err(RefundError::MoreThanRemaining {
                requested: d("50.01"),
                remaining: d("50.00")
            })
        );
        assert_eq!(half.refund(Decimal::ZERO), Err(RefundError::NotPositive));
    }

    fn cents() -> impl Strategy<Value = Decimal> {
        (1i64..10_000_000).prop_map(|c| Decimal::new(c, 2))
    }

    proptest! {
        /// However an order is refunded in pieces, the commission taken off plus what
        /// remains is the original commission, and nothing goes negative or up.
        #[test]
        fn refund_pieces_add_up(sale in cents(), rate in 0u32..=100, cuts in proptest::collection::vec(1u32..100, 1..6)) {
            let commission = round_to_cents(sale * Decimal::from(rate) / Decimal::ONE_HUNDRED);
            let mut now = Amounts { original_sale: sale, sale, original_commission: commission, commission };
            let mut taken_off = Decimal::ZERO;
            let mut refunded = Decimal::ZERO;
            for cut in cuts {
                let piece = round_to_cents(now.sale * Decimal::from(cut) / Decimal::ONE_HUNDRED);
                if piece <= Decimal::ZERO { continue; }
                let next = now.refund(piece).unwrap();
                prop_assert!(next.commission <= now.commission);
                prop_assert!(next.commission >= Decimal::ZERO && next.sale >= Decimal::ZERO);
                taken_off += now.commission - next.commission;
                refunded += piece;
                now = next;
            }
            prop_assert_eq!(taken_off + now.commission, commission);
            prop_assert_eq!(refunded + now.sale, sale);
            let last = now.refund(now.sale);
            if now.sale > Decimal::ZERO {
                let last = last.unwrap();
                prop_assert_eq!(taken_off + (now.commission - last.commission), commission);
            }
        }
    }
}
