//! Outside services the workflows call through their own types: payout
//! providers, the SMTP server and brands' webhook endpoints. Nothing here reads or writes the database.

pub mod payout;
pub mod paypal;
pub mod smtp;
pub mod webhook_http;
