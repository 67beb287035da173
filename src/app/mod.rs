//! The workflows: each module is the one home of one piece of work (recording
//! an order, paying commissions, a report). They validate, decide with the
//! rules in `domain`, and read and write through `db`, inside transactions.
//! `graphql` and `http` hold the one `App` value and only parse, authorize,
//! call the workflows and shape answers; they never reach `db` themselves.

use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;

use crate::domain::enums::Role;
use crate::domain::ids::{ApiKeyId, BrandId};

pub mod api_keys;
mod application;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod brands;
pub mod clicks;
pub mod database;
pub mod email;
pub mod error;
pub mod events;
pub mod exchange_rates;
pub mod jobs;
pub mod live;
pub mod maturity;
pub mod members;
pub mod nodes;
pub mod offers;
pub mod orders;
pub mod payments;
pub mod ports;
pub mod reads;
pub mod records;
pub mod reports;
pub mod rewards;
pub mod secrets;
pub mod shop_codes;
pub mod shop_import;
pub mod shopify;
mod tallies;
pub mod webhooks;

pub use application::{App, Conn, Settings};
pub use error::{AppError, AppResult};

/// Who asks, decided by the API key: everything they do is scoped to `brand_id`.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub brand_id: BrandId,
    pub api_key_id: ApiKeyId,
    pub role: Role,
    pub time_zone: Tz,
}

impl Caller {
    /// Today's date in the brand's time zone.
    pub fn today(&self) -> NaiveDate {
        Utc::now().with_timezone(&self.time_zone).date_naive()
    }
}
