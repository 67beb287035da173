//! Outside services, each implementing a trait `app::ports` owns (payouts,
//! mail) or, for brands' webhook endpoints, the HTTP client deliveries use.
//! Nothing here reads or writes the database or calls a workflow.

pub mod ecb;
pub mod manual;
pub mod paypal;
pub mod shopify;
pub mod smtp;
pub mod webhook_http;
