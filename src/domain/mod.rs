//! Pure product rules: money, payout rules, enums and validation. No I/O here.

pub mod api_key;
pub mod currency;
pub mod date_range;
pub mod email;
pub mod enums;
pub mod ids;
pub mod kpis;
pub mod money;
pub mod nesting;
pub mod payment;
pub mod payout;
pub mod personal_data;
pub mod public_id;
pub mod refund;
pub mod report;
pub mod reward;
pub mod shopify;
pub mod tracking;
pub mod validate;
pub mod webhooks;
