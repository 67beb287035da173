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
