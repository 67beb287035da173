//! Send Payment's rules: what a membership is owed, and what a payment's state is.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::enums::PaymentState;
use super::money::{MAX_AMOUNT, format_money};

use crate::domain::ids::{LedgerEntryId, MembershipId};

/// An unpaid ledger entry past its hold period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueEntry {
    pub entry_id: LedgerEntryId,
    pub membership_id: MembershipId,
    pub amount: Decimal,
}

/// What one membership would be paid: its due entries, net of clawbacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueAmount {
    pub membership_id: MembershipId,
    pub amount: Decimal,
    pub entry_ids: Vec<LedgerEntryId>,
}

/// Per membership, the net of its entries; only positive nets are paid, the rest
/// (clawbacks larger than what was earned since) wait for later earnings.
pub fn net_per_membership(entries: impl IntoIterator<Item = DueEntry>) -> Vec<DueAmount> {
    let mut by_membership: BTreeMap<MembershipId, DueAmount> = BTreeMap::new();
    for entry in entries {
        let due = by_membership.entry(entry.membership_id).or_insert_with(|| DueAmount {
            membership_id: entry.membership_id,
            amount: Decimal::ZERO,
            entry_ids: Vec::new(),
        });
        due.amount += entry.amount;
        due.entry_ids.push(entry.entry_id);
    }
    by_membership
        .into_values()
        .filter(|due| due.amount > Decimal::ZERO)
        .collect()
}

/// Why a membership owed money is left out of a payment (it stays due).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeftOutReason {
    /// Its total is over the largest amount one item can carry.
    OverItemLimit,
    /// Adding it would take the payment's total over the largest a payment carries.
    OverPaymentLimit,
    /// Its member is paid in a currency no rate from the brand's is published for.
    NoRate { from: String, to: String },
}

impl LeftOutReason {
    pub fn describe(&self) -> String {
        match self {
            LeftOutReason::OverItemLimit => format!(
                "its total is over {}, the most one payment item carries: check its ledger entries",
                format_money(MAX_AMOUNT)
            ),
            LeftOutReason::OverPaymentLimit => format!(
                "the payment's total would pass {}, the most one payment carries: send another payment for it",
                format_money(MAX_AMOUNT)
            ),
            LeftOutReason::NoRate { from, to } => format!(
                "its member is paid in {to}, and no exchange rate from {from} to {to} is published yet: it is paid once one is"
            ),
        }
    }
}

/// A membership owed money that a payment does not carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOut {
    pub due: DueAmount,
    pub reason: LeftOutReason,
}

/// Splits what is owed into what one payment can carry and what it must leave
/// out: an amount one item cannot hold, or one that would take the total past what
/// a payment holds. Everyone else is paid; the rest stays due.
pub fn fit_in_one_payment(owed: Vec<DueAmount>) -> (Vec<DueAmount>, Vec<LeftOut>) {
    let mut total = Decimal::ZERO;
    let mut paid = Vec::with_capacity(owed.len());
    let mut left_out = Vec::new();
    for due in owed {
        let reason = if due.amount > MAX_AMOUNT {
            Some(LeftOutReason::OverItemLimit)
        } else if total + due.amount > MAX_AMOUNT {
            Some(LeftOutReason::OverPaymentLimit)
        } else {
            None
        };
        match reason {
            Some(reason) => left_out.push(LeftOut { due, reason }),
            None => {
                total += due.amount;
                paid.push(due);
            }
        }
    }
    (paid, left_out)
}

/// A payment is processing while any item is; then paid when every item was,
/// failed when none was, and partially paid otherwise.
pub fn overall_state(items: &[PaymentState]) -> PaymentState {
    let paid = items.iter().filter(|s| **s == PaymentState::Paid).count();
    if items
        .iter()
        .any(|s| matches!(s, PaymentState::Pending | PaymentState::Processing))
    {
        PaymentState::Processing
    } else if paid == items.len() && paid > 0 {
        PaymentState::Paid
    } else if paid == 0 {
        PaymentState::Failed
    } else {
        PaymentState::PartiallyPaid
    }
}

/// How long reconciliation waits before asking again about a payment unsettled
/// for `age`: a tenth of its age, between 5 seconds and an hour.
pub fn recheck_after(age: chrono::Duration) -> chrono::Duration {
    (age / 10).clamp(chrono::Duration::seconds(5), chrono::Duration::hours(1))
}

/// Whether a payment (or item) in `state` is done with: nothing more will happen to it.
pub fn is_settled(state: PaymentState) -> bool {
    !matches!(state, PaymentState::Pending | PaymentState::Processing)
}

/// PayPal's bulk-payout upload takes at most this many payments per file.
pub const PAYOUT_FILE_ROWS: usize = 5_000;

/// How many bulk-payout files a payment of `items` items takes (one when empty).
pub fn payout_file_count(items: usize) -> usize {
    items.div_ceil(PAYOUT_FILE_ROWS).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(entry_id: i64, membership_id: i64, amount: &str) -> DueEntry {
        DueEntry {
            entry_id: LedgerEntryId(entry_id),
            membership_id: MembershipId(membership_id),
            amount: amount.parse().unwrap(),
        }
    }

    #[test]
    fn a_payment_leaves_out_only_what_it_cannot_carry() {
        let due = |membership: i64, amount: &str| DueAmount {
            membership_id: MembershipId(membership),
            amount: amount.parse().unwrap(),
            entry_ids: vec![LedgerEntryId(membership)],
        };
        let (paid, left_out) = fit_in_one_payment(vec![
            due(1, "10.00"),
            due(2, "1999999999999.98"),
            due(3, "999999999989.99"),
            due(4, "0.01"),
            due(5, "5.00"),
        ]);
        let paid: Vec<i64> = paid.iter().map(|d| d.membership_id.0).collect();
        assert_eq!(paid, [1, 3]);
        let left: Vec<(i64, LeftOutReason)> = left_out
            .iter()
            .map(|l| (l.due.membership_id.0, l.reason.clone()))
            .collect();
        assert_eq!(
            left,
            [
                (2, LeftOutReason::OverItemLimit),
                (4, LeftOutReason::OverPaymentLimit),
                (5, LeftOutReason::OverPaymentLimit)
            ]
        );
    }

    #[test]
    fn young_payments_are_asked_about_often_and_old_ones_rarely() {
        use chrono::Duration;
        assert_eq!(recheck_after(Duration::seconds(1)), Duration::seconds(5));
        assert_eq!(recheck_after(Duration::minutes(10)), Duration::minutes(1));
        assert_eq!(recheck_after(Duration::days(20)), Duration::hours(1));
    }

    #[test]
    fn payout_files_hold_at_most_5000_rows() {
        assert_eq!(payout_file_count(0), 1);
        assert_eq!(payout_file_count(5_000), 1);
        assert_eq!(payout_file_count(5_001), 2);
        assert_eq!(payout_file_count(12_000), 3);
    }

    #[test]
    fn nets_clawbacks_and_skips_memberships_that_owe() {
        let due = net_per_membership(vec![
            entry(1, 7, "10.00"),
            entry(2, 7, "-3.50"),
            entry(3, 8, "2.00"),
            entry(4, 8, "-5.00"),
            entry(5, 9, "0.00"),
        ]);
        assert_eq!(
            due,
            vec![DueAmount {
                membership_id: MembershipId(7),
                amount: "6.50".parse().unwrap(),
                entry_ids: vec![LedgerEntryId(1), LedgerEntryId(2)],
            }]
        );
    }

    #[test]
    fn a_payment_is_done_when_no_item_is_in_flight() {
        use PaymentState::*;
        assert_eq!(overall_state(&[Paid, Paid]), Paid);
        assert_eq!(overall_state(&[Failed, Failed]), Failed);
        assert_eq!(overall_state(&[Paid, Failed]), PartiallyPaid);
        assert_eq!(overall_state(&[Paid, Processing]), Processing);
    }
}
