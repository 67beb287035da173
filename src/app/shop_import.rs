//! Imports a connected store's order history: Shopify's orders in a date range,
//! read page by page and booked as the webhooks book them (same source and
//! order ids, so an order counts once however it arrives), attributed by the
//! promo codes valid at each order's time and by the click id in its landing
//! page. Each page is booked in the transaction that moves the import's cursor
//! on, so an import stopped anywhere resumes where it stood. Commissions already
//! past their hold period were paid outside Sales Tracking unless the admin says
//! they are payable: they go to one PAID payment of the import's own.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::jobs::{Handler, Job, Lease, Outcome, backoff};
use super::live::KpiChanges;
use super::orders::{self, Change, ChangeError, ChangeRequest, OrderInput, Recorded};
use super::ports::{OrderPage, OrderRange, ShopAccess, ShopClient, ShopError, ShopOrder};
use super::secrets::SecretsKeys;
use super::shop_codes::patiently;
use super::{App, AppError, AppResult, Caller};
use crate::db::jobs::{self as job_rows, NewJob};
pub use crate::db::shop_imports::ImportRow;
use crate::db::shop_imports::{self as imports, NewImport, PageCounts};
use crate::db::{DbError, DbPool, audit, brands, shopify as stores};
use crate::domain::currency::{Price, shop_sale};
use crate::domain::enums::{ImportState, JobKind, ShopStatus};
use crate::domain::ids::{ApiKeyId, BrandId, ConversionId, ShopImportId};
use crate::domain::tracking::click_id_from_landing;
use crate::domain::validate;

/// The source webhooks from Shopify book orders under.
const SOURCE: &str = "shopify";
/// An import job's tries while Shopify is away before the import is failed.
const IMPORT_ATTEMPTS: i32 = 8;

/// What an admin asks to import: the orders created from `from` to `to`
/// (inclusive, in the brand's time zone; `to` defaults to today).
#[derive(Clone, Copy, Debug)]
pub struct ImportRequest {
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
    /// Whether commissions already past their hold period are due here (true)
    /// or were paid outside Sales Tracking (false, the default).
    pub payable: bool,
}

/// Who starts an import: an admin's API key, or an operator on the command line.
#[derive(Clone, Copy, Debug)]
pub struct Importer {
    pub brand_id: BrandId,
    pub time_zone: Tz,
    pub api_key_id: Option<ApiKeyId>,
}

impl From<Caller> for Importer {
    fn from(caller: Caller) -> Self {
        Importer {
            brand_id: caller.brand_id,
            time_zone: caller.time_zone,
            api_key_id: Some(caller.api_key_id),
        }
    }
}

/// The brand's newest import, if it ever ran one.
pub async fn latest(conn: &mut AsyncPgConnection, brand_id: BrandId) -> AppResult<Option<ImportRow>> {
    Ok(imports::latest(conn, brand_id).await?)
}

/// The instants a request covers: from the start of `from` to the end of `to`
/// in the brand's zone.
fn range_of(request: ImportRequest, zone: Tz, now: DateTime<Utc>) -> AppResult<(DateTime<Utc>, DateTime<Utc>)> {
    let today = now.with_timezone(&zone).date_naive();
    let to = request.to.unwrap_or(today);
    if request.from > to {
        return Err(AppError::bad_input("from must not be after to"));
    }
    if to > today {
        return Err(AppError::bad_input(format!(
            "to must not be after today ({today} in the brand's time zone)"
        )));
    }
    let start_of = |day: NaiveDate| {
        zone.from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| AppError::bad_input(format!("{day} has no start in the brand's time zone")))
    };
    let next_day = to
        .succ_opt()
        .ok_or_else(|| AppError::bad_input("to is beyond the calendar"))?;
    Ok((start_of(request.from)?, start_of(next_day)?))
}

/// Starts importing the brand's store's orders (audited as `importShopifyOrders`),
/// or resumes the brand's failed import of the same range. One import runs per
/// brand at a time: while one runs, another is refused.
pub async fn start(app: &App, importer: Importer, request: ImportRequest) -> AppResult<ImportRow> {
    let (starts_at, ends_at) = range_of(request, importer.time_zone, Utc::now())?;
    if app.secrets().is_none() {
        return Err(AppError::Conflict(
            "this server has no secrets key (--secrets-key) to open shop tokens with".into(),
        ));
    }
    let mut conn = app.conn().await?;
    let store = stores::find(&mut conn, importer.brand_id)
        .await?
        .filter(|store| store.status == ShopStatus::Connected)
        .ok_or(AppError::NotFound("connected Shopify store"))?;
    let details = serde_json::json!({
        "shopDomain": store.shop_domain,
        "from": request.from,
        "to": request.to,
        "payable": request.payable,
    });
    let row = conn
        .transaction::<_, AppError, _>(|conn| {
            async move {
                let latest = imports::latest(conn, importer.brand_id).await?;
                let resumable = latest.filter(|row| {
                    row.state == ImportState::Failed
                        && row.shop_domain == store.shop_domain
                        && (row.starts_at, row.ends_at, row.payable) == (starts_at, ends_at, request.payable)
                });
                let row = match resumable {
                    Some(failed) => imports::resume(conn, importer.brand_id, failed.id).await?,
                    None => {
                        let new = NewImport {
                            brand_id: importer.brand_id,
                            shop_domain: &store.shop_domain,
                            starts_at,
                            ends_at,
                            payable: request.payable,
                            created_by_key_id: importer.api_key_id,
                        };
                        imports::insert(conn, new).await?
                    }
                };
                let row = row.ok_or_else(|| {
                    AppError::Conflict("an import of this brand's orders is running: wait until it ends".into())
                })?;
                job_rows::insert(conn, &import_job(&row)).await?;
                audit::record(
                    conn,
                    importer.brand_id,
                    importer.api_key_id,
                    "importShopifyOrders",
                    details,
                )
                .await?;
                Ok(row)
            }
            .scope_boxed()
        })
        .await?;
    app.wake(JobKind::ShopifyImport);
    Ok(row)
}

fn import_job(row: &ImportRow) -> NewJob {
    NewJob {
        kind: JobKind::ShopifyImport,
        brand_id: Some(row.brand_id),
        delivery_id: None,
        ordering_key: Some(format!("shopify-import:{}", row.brand_id)),
        payload: serde_json::json!({ "importId": row.id.0 }),
    }
}

/// Why an import stopped short.
#[derive(Debug)]
pub enum Stopped {
    Shop(ShopError),
    App(AppError),
}

impl<E: Into<AppError>> From<E> for Stopped {
    fn from(error: E) -> Self {
        Stopped::App(error.into())
    }
}

/// What reaches a store's Admin API and opens its token.
#[derive(Clone)]
pub struct ImportRunner {
    pub pool: DbPool,
    pub client: Arc<dyn ShopClient>,
    pub secrets: SecretsKeys,
    /// Told after each page: the brand's KPIs may have changed.
    pub live: KpiChanges,
}

impl ImportRunner {
    /// Imports page after page until the import is done or failed;
    /// `progress` sees it after each page.
    pub async fn run(
        &self,
        brand_id: BrandId,
        id: ShopImportId,
        mut progress: impl FnMut(&ImportRow) + Send,
    ) -> Result<ImportRow, Stopped> {
        loop {
            let row = self.page(brand_id, id).await?;
            self.live.touch(brand_id);
            progress(&row);
            if row.state != ImportState::Running {
                return Ok(row);
            }
        }
    }

    /// Reads and books the import's next page; the import as it then stands.
    async fn page(&self, brand_id: BrandId, id: ShopImportId) -> Result<ImportRow, Stopped> {
        let mut conn = self.pool.get().await.map_err(DbError::from)?;
        let row = imports::find(&mut conn, brand_id, id)
            .await?
            .ok_or(AppError::NotFound("Shopify import"))?;
        if row.state != ImportState::Running {
            return Ok(row);
        }
        let Some(store) = stores::find(&mut conn, brand_id)
            .await?
            .filter(|store| store.status == ShopStatus::Connected && store.shop_domain == row.shop_domain)
        else {
            imports::fail(&mut conn, brand_id, id, "the store was disconnected").await?;
            return Ok(imports::find(&mut conn, brand_id, id).await?.unwrap_or(row));
        };
        let access = ShopAccess {
            domain: store.shop_domain,
            token: self.secrets.open(&store.sealed_token)?,
        };
        let brand = brands::find(&mut conn, brand_id).await?;
        let zone = brands::time_zone(brand_id, &brand.time_zone)?;
        // No connection is held while Shopify answers.
        drop(conn);
        let range = OrderRange {
            from: row.starts_at,
            until: row.ends_at,
        };
        let client = self.client.as_ref();
        if row.total.is_none() {
            let total = patiently(|| client.count_orders(&access, &range))
                .await
                .map_err(Stopped::Shop)?;
            let mut conn = self.pool.get().await.map_err(DbError::from)?;
            imports::set_total(&mut conn, brand_id, id, i32::try_from(total).unwrap_or(i32::MAX)).await?;
        }
        let page = patiently(|| client.orders(&access, &range, row.after.as_deref()))
            .await
            .map_err(Stopped::Shop)?;
        let mut conn = self.pool.get().await.map_err(DbError::from)?;
        let booking = Booking {
            row: &row,
            zone,
            currency: &brand.currency,
            page: &page,
        };
        conn.transaction::<_, AppError, _>(|conn| async move { booking.book(conn).await }.scope_boxed())
            .await?;
        Ok(imports::find(&mut conn, brand_id, id).await?.unwrap_or(row))
    }
}

/// One page of orders to book for an import.
struct Booking<'a> {
    row: &'a ImportRow,
    zone: Tz,
    currency: &'a str,
    page: &'a OrderPage,
}

impl Booking<'_> {
    /// Books the page, unless another runner booked it first (then nothing).
    async fn book(self, conn: &mut AsyncPgConnection) -> AppResult<()> {
        let row = self.row;
        if !imports::lock_at(conn, row).await? {
            return Ok(());
        }
        let mut counts = PageCounts::default();
        let mut credited = Vec::new();
        for order in &self.page.orders {
            counts.processed += 1;
            let Some(mut input) = self.order_input(order) else {
                counts.skipped += 1;
                continue;
            };
            // Valued as the webhook would; an order whose rate is not known is
            // skipped (import again once the rates reach back to it).
            match orders::value_in_brand_currency(conn, self.currency, self.zone, &mut input).await {
                Ok(true) => {}
                Ok(false) | Err(AppError::BadUserInput(_)) => {
                    counts.skipped += 1;
                    continue;
                }
                Err(error) => return Err(error),
            }
            match orders::record(conn, row.brand_id, self.zone, input).await? {
                Recorded::New(conversion) => {
                    counts.recorded += 1;
                    if conversion.membership_id.is_some() {
                        credited.push(conversion.id);
                    }
                }
                Recorded::Duplicate(_) => counts.already_recorded += 1,
            }
            self.apply_refunds(conn, order).await?;
        }
        if !row.payable && !credited.is_empty() {
            settle_outside(conn, row, &credited).await?;
        }
        let last = self.page.next.is_none();
        imports::advance(conn, row, self.page.next.as_deref(), counts, last).await?;
        Ok(())
    }

    /// The order as the webhook would book it (`shop_sale`); none for one that
    /// cannot be booked (an amount out of range).
    fn order_input(&self, order: &ShopOrder) -> Option<OrderInput> {
        let shop = Price {
            amount: order.total,
            currency: order.currency.to_ascii_uppercase(),
        };
        let day = order.created_at.with_timezone(&self.zone).date_naive();
        let (sale, valuation) = shop_sale(Some(shop), order.paid.clone(), self.currency, day)?;
        if sale.currency == self.currency {
            validate::sale_amount("total", sale.amount).ok()?;
        }
        Some(OrderInput {
            source: SOURCE.to_string(),
            external_order_id: validate::external_id("id", &order.id).ok()?,
            occurred_at: order.created_at,
            sale_amount: sale.amount,
            currency: sale.currency,
            promo_codes: order
                .discount_codes
                .iter()
                .filter_map(|code| validate::typed_code(code))
                .collect(),
            click_id: order.landing_pages.iter().find_map(|page| click_id_from_landing(page)),
            history: true,
            valuation,
        })
    }

    /// Applies the order's refunds and cancellation with the references their
    /// webhooks carry, so each counts once whichever way it came.
    async fn apply_refunds(&self, conn: &mut AsyncPgConnection, order: &ShopOrder) -> AppResult<()> {
        // In the buyer's currency when given, as the order is and as the refunds
        // webhook reports them (`Change::ShopRefund`).
        let refunds = order.refunds.iter().map(|refund| ChangeRequest {
            change: Change::ShopRefund(Some(refund.paid_amount.unwrap_or(refund.amount))),
            reference: format!("shopify-refund-{}", refund.id),
        });
        let cancellation = order.cancelled.then(|| ChangeRequest {
            change: Change::ShopRefund(None),
            reference: "shopify-cancelled".to_string(),
        });
        for request in refunds.chain(cancellation) {
            let changed = orders::change_external(conn, self.row.brand_id, self.zone, SOURCE, &order.id, request).await;
            match changed {
                // Skipped orders are not booked; a refund beyond what is left, or of
                // an order already reversed, leaves the order as it is.
                Ok(_) | Err(ChangeError::NotFound | ChangeError::NotAccepted(_) | ChangeError::Refund(_)) => {}
                Err(ChangeError::Db(error)) => return Err(error.into()),
            }
        }
        Ok(())
    }
}

/// Marks the commissions of the conversions just credited that are already
/// past their hold period as paid outside Sales Tracking.
async fn settle_outside(conn: &mut AsyncPgConnection, row: &ImportRow, credited: &[ConversionId]) -> AppResult<()> {
    let payment_id = imports::settlement(conn, row).await?;
    imports::settle_outside(conn, row.brand_id, payment_id, credited, Utc::now()).await?;
    Ok(())
}

/// Runs imports started by `importShopifyOrders`: Shopify away or throttling
/// is retried with backoff (the import resumes at its cursor); a refused token
/// fails the import with the reason on it.
pub struct ImportJob {
    pub runner: ImportRunner,
}

#[async_trait::async_trait]
impl Handler for ImportJob {
    fn kind(&self) -> JobKind {
        JobKind::ShopifyImport
    }

    fn concurrency(&self) -> usize {
        2
    }

    async fn run(&self, job: &Job, _: &Lease) -> Outcome {
        let (Some(brand_id), Some(id)) = (job.brand_id, job.payload["importId"].as_i64()) else {
            return Outcome::Failed("a Shopify import job names no brand or import".into());
        };
        let id = ShopImportId(id);
        let stopped = match self.runner.run(brand_id, id, |_| {}).await {
            Ok(_) => return Outcome::Done,
            Err(stopped) => stopped,
        };
        let retry = |error: String| Outcome::Retry {
            after: backoff(job.attempts).max(Duration::from_secs(1)),
            error,
        };
        match stopped {
            Stopped::Shop(ShopError::Unavailable(why)) if job.attempts < IMPORT_ATTEMPTS => {
                retry(format!("Shopify could not be reached: {why}"))
            }
            Stopped::Shop(ShopError::Throttled(wait)) => Outcome::Retry {
                after: wait,
                error: "Shopify is throttling this store's requests".into(),
            },
            Stopped::Shop(error) => match self.fail(brand_id, id, &failure_message(&error)).await {
                Ok(()) => Outcome::Done,
                Err(error) => retry(format!("{error:?}")),
            },
            Stopped::App(error) => retry(format!("{error:?}")),
        }
    }
}

impl ImportJob {
    async fn fail(&self, brand_id: BrandId, id: ShopImportId, message: &str) -> AppResult<()> {
        let mut conn = self.runner.pool.get().await.map_err(DbError::from)?;
        imports::fail(&mut conn, brand_id, id, message).await?;
        Ok(())
    }
}

/// What an import that Shopify stopped shows.
pub fn failure_message(error: &ShopError) -> String {
    match error {
        ShopError::Unauthorized => "Shopify refused the access token: connect the store again".to_string(),
        other => other.to_string(),
    }
}

/// Imports from the command line (`sales-tracking import-shopify`): starts an
/// import as an operator (or joins the brand's running one) and runs it here,
/// retrying while Shopify is away; `progress` sees it after each page. A server
/// running jobs may book pages alongside: each page is booked once.
pub async fn import_from_command_line(
    app: &App,
    brand_slug: &str,
    request: ImportRequest,
    progress: impl FnMut(&ImportRow) + Send,
) -> AppResult<ImportRow> {
    let mut conn = app.conn().await?;
    let brand = match brands::find_by_slug(&mut conn, brand_slug).await {
        Ok(brand) => brand,
        Err(DbError::NotFound) => return Err(AppError::NotFound("brand with this slug")),
        Err(error) => return Err(error.into()),
    };
    let importer = Importer {
        brand_id: brand.id,
        time_zone: brands::time_zone(brand.id, &brand.time_zone)?,
        api_key_id: None,
    };
    let running = imports::latest(&mut conn, brand.id)
        .await?
        .filter(|row| row.state == ImportState::Running);
    drop(conn);
    let row = match running {
        Some(row) => row,
        None => start(app, importer, request).await?,
    };
    let secrets = app
        .secrets()
        .ok_or_else(|| AppError::Conflict("no secrets key (--secrets-key) to open the shop's token with".into()))?;
    let runner = ImportRunner {
        pool: app.pool().clone(),
        client: app.shops_client(),
        secrets: secrets.clone(),
        live: app.live_changes(),
    };
    let mut progress = progress;
    let mut attempts = 0;
    loop {
        match runner.run(brand.id, row.id, &mut progress).await {
            Ok(done) => return Ok(done),
            Err(Stopped::Shop(ShopError::Unavailable(_) | ShopError::Throttled(_))) if attempts < IMPORT_ATTEMPTS => {
                attempts += 1;
                tokio::time::sleep(backoff(attempts).min(Duration::from_secs(60))).await;
            }
            Err(Stopped::Shop(error)) => {
                let mut conn = app.conn().await?;
                imports::fail(&mut conn, brand.id, row.id, &failure_message(&error)).await?;
                return Ok(imports::find(&mut conn, brand.id, row.id).await?.unwrap_or(row));
            }
            Err(Stopped::App(error)) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn a_range_runs_from_the_first_day_start_to_the_last_day_end_in_the_brand_zone() {
        let request = ImportRequest {
            from: day("2026-03-01"),
            to: Some(day("2026-03-31")),
            payable: false,
        };
        let zone: Tz = "America/New_York".parse().unwrap();
        let (from, until) = range_of(request, zone, at("2026-12-05T12:00:00Z")).unwrap();
        assert_eq!(from, at("2026-03-01T05:00:00Z"));
        // Daylight saving time began on March 8th.
        assert_eq!(until, at("2026-04-01T04:00:00Z"));
    }

    #[test]
    fn a_range_ends_today_at_the_latest_and_never_runs_backwards() {
        let now = at("2026-12-05T12:00:00Z");
        let request = |from: &str, to: Option<&str>| ImportRequest {
            from: day(from),
            to: to.map(day),
            payable: false,
        };
        let (_, until) = range_of(request("2026-11-01", None), Tz::UTC, now).unwrap();
        assert_eq!(until, at("2026-12-06T00:00:00Z"));
        assert!(range_of(request("2026-11-02", Some("2026-11-01")), Tz::UTC, now).is_err());
        assert!(range_of(request("2026-11-02", Some("2026-12-06")), Tz::UTC, now).is_err());
    }
}
