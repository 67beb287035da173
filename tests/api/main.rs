//! Integration tests on real PostgreSQL: one binary, one module per area.

mod common;

mod api_conventions;
mod api_keys;
mod architecture;
mod auth;
mod browser;
mod citus_ready;
mod cli;
mod click_quality;
mod columns;
mod demo;
mod email;
mod export;
mod hostile;
mod http;
mod ledger;
mod local_postgres;
mod members;
mod membership_actions;
mod migrations;
mod offer_edits;
mod offers;
mod outage;
mod payments;
mod paypal;
mod paypal_stand_in;
mod projects;
mod refunds;
mod reporting;
mod rewards;
mod schema_snapshot;
mod seed;
mod several_servers;
mod stored_values;
mod tracking;
