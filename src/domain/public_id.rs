//! Public ids: a type prefix and the row id, e.g. `offer_42`. The prefix makes
//! an id passed to the wrong field a clear error instead of a silent miss. Every
//! surface (GraphQL, CSV files, webhook answers, audit details) formats ids here.

use super::ids::EntityId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Brand,
    Project,
    Member,
    Membership,
    Offer,
    Conversion,
    Payment,
    PaymentItem,
    Reward,
    RewardRule,
    Email,
    ApiKey,
    LedgerEntry,
    AuditEvent,
    WebhookEndpoint,
    WebhookDelivery,
    Job,
    ShopImport,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Brand => "brand",
            Kind::Project => "project",
            Kind::Member => "member",
            Kind::Offer => "offer",
            Kind::Membership => "membership",
            Kind::Conversion => "conversion",
            Kind::Payment => "payment",
            Kind::PaymentItem => "payment_item",
            Kind::Reward => "reward",
            Kind::RewardRule => "reward_rule",
            Kind::Email => "email",
            Kind::ApiKey => "apikey",
            Kind::LedgerEntry => "ledger_entry",
            Kind::AuditEvent => "audit_event",
            Kind::WebhookEndpoint => "webhook_endpoint",
            Kind::WebhookDelivery => "webhook_delivery",
            Kind::Job => "job",
            Kind::ShopImport => "shop_import",
        }
    }
}

/// The public id of row `id` of `kind`, e.g. `offer_42` (what ids display as).
pub(super) fn format(kind: Kind, id: i64) -> String {
    format!("{}_{id}", kind.prefix())
}

/// An id that is not of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{given}' is not a {} id (expected e.g. {}_1)", kind.prefix(), kind.prefix())]
pub struct NotAnId {
    pub kind: Kind,
    pub given: String,
}

/// The id in a public id of `T`'s kind.
pub fn parse<T: EntityId>(id: &str) -> Result<T, NotAnId> {
    let kind = T::KIND;
    id.strip_prefix(kind.prefix())
        .and_then(|rest| rest.strip_prefix('_'))
        .and_then(|digits| digits.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .map(T::from_raw)
        .ok_or_else(|| NotAnId {
            kind,
            given: id.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{MemberId, OfferId, PaymentItemId};

    #[test]
    fn round_trips_and_rejects_other_kinds() {
        assert_eq!(parse::<OfferId>(&OfferId(42).to_string()).unwrap(), OfferId(42));
        assert_eq!(PaymentItemId(7).to_string(), "payment_item_7");
        assert!(parse::<OfferId>(&MemberId(42).to_string()).is_err());
        for bad in ["offer_", "offer_x", "offer_-1", "42", "offer42", "offer_0"] {
            assert!(parse::<OfferId>(bad).is_err(), "{bad}");
        }
    }
}
