//! Pure product rules: money, payout rules, enums and validation. No I/O here.

pub mod api_key;
pub mod date_range;
pub mod enums;
pub mod kpis;
pub mod money;
pub mod payout;
pub mod refund;
pub mod tracking;
pub mod validate;
