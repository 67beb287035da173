//! The workflows: each module is the one home of one piece of work (recording
//! an order, paying commissions, a report). They validate, decide with the
//! rules in `domain`, and read and write through `db`, inside transactions.
//! `graphql` and `http` only parse, authorize, call them and shape answers.

use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;

use crate::domain::enums::Role;
use crate::domain::ids::{ApiKeyId, BrandId};

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod brands;
pub mod clicks;
pub mod email;
pub mod error;
pub mod events;
pub mod jobs;
pub mod maturity;
pub mod members;
pub mod offers;
pub mod orders;
pub mod payments;
pub mod reports;
pub mod rewards;
pub mod webhooks;

pub use error::{AppError, AppResult};

/// The background work and settings workflows reach beyond a connection.
#[derive(Clone, Default)]
pub struct Services {
    /// None where no runner runs (a schema built only for its SDL).
    pub jobs: Option<jobs::JobRunner>,
    pub webhooks: webhooks::WebhookSettings,
}

impl Services {
    /// Tells the runner `kind` has work now.
    pub fn wake(&self, kind: crate::domain::enums::JobKind) {
        if let Some(jobs) = &self.jobs {
            jobs.wake(kind);
        }
    }
}

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
