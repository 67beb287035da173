//! One id type per entity, so a member's id passed where an offer's is expected
//! does not compile. Each carries its public kind (`domain::public_id`); `db`
//! gives them SQL conversions, so rows are read straight into them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::public_id::Kind;

/// A row id of one entity.
/// Its `Display` is the public form, e.g. `offer_42`.
pub trait EntityId: Copy + Eq + Ord + std::hash::Hash + fmt::Debug + fmt::Display {
    const KIND: Kind;

    fn from_raw(raw: i64) -> Self;

    fn raw(self) -> i64;
}

/// Every entity id type and its public kind.
#[macro_export]
macro_rules! entity_ids {
    ($then:ident) => {
        $then! {
            BrandId => Brand,
            ProjectId => Project,
            MemberId => Member,
            MembershipId => Membership,
            OfferId => Offer,
            ConversionId => Conversion,
            PaymentId => Payment,
            PaymentItemId => PaymentItem,
            RewardId => Reward,
            RewardRuleId => RewardRule,
            EmailId => Email,
            ApiKeyId => ApiKey,
            LedgerEntryId => LedgerEntry,
            AuditEventId => AuditEvent,
            WebhookEndpointId => WebhookEndpoint,
            WebhookDeliveryId => WebhookDelivery,
            JobId => Job,
            ShopImportId => ShopImport,
        }
    };
}

macro_rules! define_entity_ids {
    ($($name:ident => $kind:ident),* $(,)?) => {
        $(
            #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
            #[serde(transparent)]
            pub struct $name(pub i64);

            impl EntityId for $name {
                const KIND: Kind = Kind::$kind;

                fn from_raw(raw: i64) -> Self {
                    Self(raw)
                }

                fn raw(self) -> i64 {
                    self.0
                }
            }

            impl fmt::Display for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str(&super::public_id::format(Kind::$kind, self.0))
                }
            }
        )*
    };
}

entity_ids!(define_entity_ids);
