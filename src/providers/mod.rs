//! Outside services the workflows call through their own types: payout
//! providers and the SMTP server. Nothing here reads or writes the database.

pub mod payout;
pub mod paypal;
pub mod smtp;
