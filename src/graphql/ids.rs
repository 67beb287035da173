//! Public ids: a type prefix and the row id, e.g. `offer_42`. The prefix makes
//! an id passed to the wrong field a clear error instead of a silent miss.

use async_graphql::ID;

use super::error::{ApiError, ApiResult};

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
}

impl Kind {
    fn prefix(self) -> &'static str {
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
        }
    }
}

pub fn encode(kind: Kind, id: i64) -> ID {
    ID(format!("{}_{id}", kind.prefix()))
}

/// Reads an id of `kind`; anything else is `BAD_USER_INPUT`.
pub fn decode(kind: Kind, id: &ID) -> ApiResult<i64> {
    id.strip_prefix(kind.prefix())
        .and_then(|rest| rest.strip_prefix('_'))
        .and_then(|digits| digits.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            ApiError::bad_input(format!(
                "'{}' is not a {} id (expected e.g. {}_1)",
                id.as_str(),
                kind.prefix(),
                kind.prefix()
            ))
        })
}

/// The most ids one mutation takes.
pub const MAX_IDS: usize = 500;

/// Decodes a non-empty list of at most `MAX_IDS` ids of `kind`, without repeats.
pub fn decode_list(kind: Kind, ids: &[ID]) -> ApiResult<Vec<i64>> {
    if ids.is_empty() {
        return Err(ApiError::bad_input("give at least one id"));
    }
    if ids.len() > MAX_IDS {
        return Err(ApiError::bad_input(format!("give at most {MAX_IDS} ids at once")));
    }
    let mut decoded = decode_all(kind, ids)?;
    decoded.sort_unstable();
    decoded.dedup();
    Ok(decoded)
}

pub fn decode_all(kind: Kind, ids: &[ID]) -> ApiResult<Vec<i64>> {
    ids.iter().map(|id| decode(kind, id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_kinds() {
        assert_eq!(decode(Kind::Offer, &encode(Kind::Offer, 42)).unwrap(), 42);
        assert!(decode(Kind::Offer, &encode(Kind::Member, 42)).is_err());
        for bad in ["offer_", "offer_x", "offer_-1", "42", "offer42", "offer_0"] {
            assert!(decode(Kind::Offer, &ID(bad.into())).is_err(), "{bad}");
        }
    }
}
