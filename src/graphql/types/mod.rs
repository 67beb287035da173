//! GraphQL object types, each built from rows.

pub mod brand;
pub mod member;
pub mod offer;
pub mod payout;
pub mod project;
