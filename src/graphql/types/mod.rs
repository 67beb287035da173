//! GraphQL object types, each built from rows.

pub mod brand;
pub mod conversion;
pub mod email;
pub mod member;
pub mod membership;
pub mod offer;
pub mod payment;
pub mod payout;
pub mod project;
pub mod reward;
