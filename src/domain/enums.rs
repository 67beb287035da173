//! The product's enumerations. Stored as text with CHECK constraints, so each
//! has one spelling shared by the database and GraphQL.

use async_graphql::Enum;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// The spelling stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Reads the database spelling; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

text_enum! {
    /// What an API key may do.
    Role {
        /// Everything, including payments and member edits.
        Admin => "ADMIN",
        /// Read only.
        Analyst => "ANALYST",
    }
}

text_enum! {
    /// How creators drive sales for an offer.
    OfferType {
        /// A tracked link that redirects through `/r/{code}`.
        SalesLink => "SALES_LINK",
        /// A promo code the buyer enters at checkout.
        PromoCode => "PROMO_CODE",
    }
}

text_enum! {
    /// An offer's state. `EXPIRED` is never stored: an offer whose end date has
    /// passed is expired unless it is archived.
    OfferStatus {
        /// Running: attributes orders and clicks.
        Active => "ACTIVE",
        /// Stopped for now by the brand.
        Paused => "PAUSED",
        /// Its end date has passed.
        Expired => "EXPIRED",
        /// Put away for good; kept for history.
        Archived => "ARCHIVED",
    }
}

impl OfferStatus {
    /// The status a brand sees, given the stored one and whether the end date passed.
    pub fn effective(stored: OfferStatus, ended: bool) -> OfferStatus {
        match stored {
            OfferStatus::Archived => OfferStatus::Archived,
            _ if ended => OfferStatus::Expired,
            other => other,
        }
    }
}

text_enum! {
    /// How a commission is computed.
    PayoutType {
        /// A percentage of the sale amount.
        PercentOfSale => "PERCENT_OF_SALE",
        /// A fixed amount for each accepted conversion.
        FlatPerConversion => "FLAT_PER_CONVERSION",
        /// A fixed amount for each counted click (sales links only).
        FlatPerClick => "FLAT_PER_CLICK",
        /// A percentage of the sale plus a fixed amount per conversion.
        PercentPlusFlat => "PERCENT_PLUS_FLAT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for t in [
            PayoutType::PercentOfSale,
            PayoutType::FlatPerConversion,
            PayoutType::FlatPerClick,
            PayoutType::PercentPlusFlat,
        ] {
            assert_eq!(PayoutType::parse(t.as_str()), Some(t));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn archived_beats_expired_and_ended_offers_expire() {
        assert_eq!(
            OfferStatus::effective(OfferStatus::Archived, true),
            OfferStatus::Archived
        );
        assert_eq!(OfferStatus::effective(OfferStatus::Active, true), OfferStatus::Expired);
        assert_eq!(OfferStatus::effective(OfferStatus::Paused, true), OfferStatus::Expired);
        assert_eq!(OfferStatus::effective(OfferStatus::Paused, false), OfferStatus::Paused);
    }
}

text_enum! {
    /// Where a conversion stands.
    ConversionStatus {
        /// Counts and earns commission.
        Accepted => "ACCEPTED",
        /// Refused by the brand, with a reason; earns nothing.
        Rejected => "REJECTED",
        /// Fully refunded; earns nothing.
        Reversed => "REVERSED",
    }
}

text_enum! {
    /// How an order found its membership.
    AttributionType {
        /// Through a click on the member's sales link.
        Link => "LINK",
        /// Through the member's promo code.
        PromoCode => "PROMO_CODE",
    }
}

text_enum! {
    /// Which memberships a Send Payment pays.
    PaymentScope {
        /// Every membership of every offer.
        AllOffers => "ALL_OFFERS",
        /// The memberships of one offer.
        Offer => "OFFER",
        /// The chosen memberships.
        Memberships => "MEMBERSHIPS",
    }
}

text_enum! {
    /// Where a payment or one of its items stands.
    PaymentState {
        /// Created, not yet handed to the provider.
        Pending => "PENDING",
        /// Handed to the provider, waiting for its answer.
        Processing => "PROCESSING",
        /// Paid out.
        Paid => "PAID",
        /// The provider refused it; its commission is due again.
        Failed => "FAILED",
    }
}

text_enum! {
    /// What a reward gives.
    RewardKind {
        /// Money, added to the ledger and paid with the next payment.
        CashBonus => "CASH_BONUS",
        /// A product, recorded for the brand to ship.
        FreeProduct => "FREE_PRODUCT",
        /// A discount code for the member.
        DiscountCode => "DISCOUNT_CODE",
    }
}

text_enum! {
    /// When a reward rule grants its reward.
    RewardTrigger {
        /// On the membership's first accepted conversion.
        FirstConversion => "FIRST_CONVERSION",
        /// On every `everyN`-th accepted conversion.
        EveryNConversions => "EVERY_N_CONVERSIONS",
        /// When the membership's accepted sales reach `salesThreshold`.
        SalesOverAmount => "SALES_OVER_AMOUNT",
    }
}

text_enum! {
    /// Where an email stands.
    EmailStatus {
        /// Waiting to be sent or retried.
        Pending => "PENDING",
        /// Accepted by the SMTP server.
        Sent => "SENT",
        /// Every attempt failed; no more tries.
        Failed => "FAILED",
    }
}
