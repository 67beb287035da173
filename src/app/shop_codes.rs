//! Promo codes at the shop's checkout: each promo-code offer with a shopper
//! discount has one Shopify code discount, holding one redeem code per
//! membership whose code attributes now, and only those. A recurring job
//! (woken by every change to codes, memberships, offers or discounts) compares
//! the shop with our records and repairs the difference, so drift made in
//! Shopify's admin is undone too: SPEC's attribution rules stay the truth, the
//! shop follows them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use rust_decimal::Decimal;

use super::App;
use super::audit::audited;
use super::jobs::{Handler, Job, Lease, Outcome};
use super::members;
use super::ports::{ShopAccess, ShopClient, ShopDiscount, ShopError};
use super::records::MembershipRow;
use super::reports::effective_status;
use super::secrets::SecretsKeys;
use super::{AppError, AppResult, Caller};
use crate::db::shop_codes::{self, AdoptedCode, DiscountTerms};
pub use crate::db::shop_codes::{MembershipCodeState, ShopperDiscountRow};
use crate::db::shopify::{self as stores, StoreRow};
use crate::db::{DbError, DbPool, brands, offers};
use crate::domain::enums::{CodeSyncState, JobKind, OfferStatus, OfferType, ShopStatus, ShopperDiscountType};
use crate::domain::ids::{BrandId, MembershipId, OfferId};
use crate::domain::money::parse_amount;

/// Tries of one Shopify call that is throttled, waiting as Shopify says between them.
const THROTTLED_TRIES: usize = 5;

/// A shopper discount as an admin writes it.
pub struct DiscountDraft {
    pub discount_type: ShopperDiscountType,
    /// A percentage (1 to 100) or an amount, as a decimal string.
    pub value: String,
    pub once_per_customer: bool,
    pub minimum_subtotal: Option<String>,
}

/// Sets a promo-code offer's shopper discount; the shop follows at once.
pub async fn set_shopper_discount(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    offer_id: OfferId,
    draft: DiscountDraft,
) -> AppResult<ShopperDiscountRow> {
    let offer = offers::find(conn, caller.brand_id, offer_id)
        .await?
        .ok_or(AppError::NotFound("offer"))?;
    if offer.offer_type != OfferType::PromoCode {
        return Err(AppError::bad_input("only a PROMO_CODE offer has a shopper discount"));
    }
    let terms = discount_terms(draft)?;
    let details = serde_json::json!({
        "offerId": offer_id.to_string(),
        "type": terms.discount_type.as_str(),
        "value": terms.value.to_string(),
    });
    audited(conn, caller, "setShopperDiscount", details, move |conn, caller| {
        async move { Ok(shop_codes::set_terms(conn, caller.brand_id, offer_id, &terms).await?) }.scope_boxed()
    })
    .await
}

/// A shopper discount as an admin wrote it, checked: a value above 0 (at most
/// 100 for a percentage), a minimum subtotal above 0 if any.
pub fn discount_terms(draft: DiscountDraft) -> AppResult<DiscountTerms> {
    let value = parse_amount(&draft.value).map_err(|e| AppError::bad_input(format!("value: {e}")))?;
    if value <= Decimal::ZERO || draft.discount_type == ShopperDiscountType::Percentage && value > Decimal::ONE_HUNDRED
    {
        return Err(AppError::bad_input(
            "value must be above 0, and at most 100 for a PERCENTAGE",
        ));
    }
    let minimum_subtotal = draft
        .minimum_subtotal
        .as_deref()
        .map(|text| parse_amount(text).map_err(|e| AppError::bad_input(format!("minimumSubtotal: {e}"))))
        .transpose()?
        .filter(|minimum| *minimum > Decimal::ZERO);
    Ok(DiscountTerms {
        discount_type: draft.discount_type,
        value,
        once_per_customer: draft.once_per_customer,
        minimum_subtotal,
    })
}

/// Gives one membership a code that already exists in the brand's shop (looked
/// up there first): the code keeps its own discount, attributes orders from now
/// on, and is kept in that discount while it attributes and taken out after.
pub async fn adopt_code(
    app: &App,
    caller: Caller,
    membership_id: MembershipId,
    code: &str,
    details: serde_json::Value,
) -> AppResult<Vec<MembershipRow>> {
    let code = code.trim().to_uppercase();
    let store = stores::find(&mut *app.conn().await?, caller.brand_id)
        .await?
        .filter(|store| store.status == ShopStatus::Connected)
        .ok_or_else(|| AppError::bad_input("connect a Shopify store to adopt its codes"))?;
    let secrets = app.secrets().ok_or_else(|| {
        AppError::Conflict("this server has no secrets key (--secrets-key) to open shop tokens with".into())
    })?;
    let access = ShopAccess {
        domain: store.shop_domain.clone(),
        token: secrets.open(&store.sealed_token)?,
    };
    let discount_id = app
        .shops()
        .find_code(&access, &code)
        .await
        .map_err(|error| match error {
            ShopError::Unauthorized => {
                AppError::bad_input("Shopify refused the store's token: connect the store again")
            }
            ShopError::Refused(message) => AppError::BadUserInput(message),
            other => AppError::ServiceUnavailable(other.to_string()),
        })?
        .ok_or_else(|| AppError::bad_input(format!("no discount in {} has the code {code}", store.shop_domain)))?;
    let mut conn = app.conn().await?;
    let rows = conn
        .transaction::<_, AppError, _>(|conn| {
            async move {
                let rows = members::refresh_promo_codes(conn, caller, vec![membership_id], Some(code.clone()), details)
                    .await?;
                shop_codes::record_adopted(conn, caller.brand_id, &code, &discount_id).await?;
                Ok(rows)
            }
            .scope_boxed()
        })
        .await?;
    app.wake(JobKind::ShopifyCodeSync);
    Ok(rows)
}

/// Brings every connected store's codes in step with ours, every `every` and
/// whenever woken.
pub struct CodeSyncJob {
    pub pool: DbPool,
    pub client: Arc<dyn ShopClient>,
    pub secrets: SecretsKeys,
    pub every: Duration,
}

#[async_trait::async_trait]
impl Handler for CodeSyncJob {
    fn kind(&self) -> JobKind {
        JobKind::ShopifyCodeSync
    }

    fn every(&self) -> Option<Duration> {
        Some(self.every)
    }

    async fn run(&self, _: &Job, _: &Lease) -> Outcome {
        let stores = match self.pool.get().await {
            Ok(mut conn) => stores::connected(&mut conn).await,
            Err(error) => Err(DbError::from(error)),
        };
        let stores = match stores {
            Ok(stores) => stores,
            Err(error) => return Outcome::Failed(format!("listing stores: {error}")),
        };
        for store in stores {
            let brand_id = store.brand_id;
            let result = self.sync_store(store).await;
            let Ok(mut conn) = self.pool.get().await else {
                continue;
            };
            let error = match result {
                // Nothing to keep in step: the store's state is not this round's to tell.
                Ok(false) => continue,
                Ok(true) => None,
                Err(SyncError::Shop(ShopError::Unauthorized)) => {
                    Some("Shopify refused the access token: connect the store again".to_string())
                }
                Err(SyncError::Shop(error)) => Some(format!("syncing promo codes: {error}")),
                Err(SyncError::App(error)) => {
                    tracing::error!(?error, %brand_id, "promo code sync failed");
                    Some("syncing promo codes failed on our side; it is retried".to_string())
                }
            };
            if let Err(error) = stores::record_sync(&mut conn, brand_id, Utc::now(), error.as_deref()).await {
                tracing::warn!(%error, %brand_id, "recording a promo code sync failed");
            }
        }
        Outcome::Done
    }
}

enum SyncError {
    Shop(ShopError),
    App(AppError),
}

impl From<ShopError> for SyncError {
    fn from(error: ShopError) -> Self {
        SyncError::Shop(error)
    }
}

impl From<AppError> for SyncError {
    fn from(error: AppError) -> Self {
        SyncError::App(error)
    }
}

impl From<DbError> for SyncError {
    fn from(error: DbError) -> Self {
        SyncError::App(error.into())
    }
}

/// Calls Shopify, waiting out throttling as Shopify says (a few times at most).
pub(super) async fn patiently<T, F, Fut>(call: F) -> Result<T, ShopError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, ShopError>>,
{
    let mut tries = 0;
    loop {
        match call().await {
            Err(ShopError::Throttled(wait)) if tries + 1 < THROTTLED_TRIES => {
                tries += 1;
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

impl CodeSyncJob {
    /// Whether the store had anything to keep in step.
    async fn sync_store(&self, store: StoreRow) -> Result<bool, SyncError> {
        let mut conn = self.pool.get().await.map_err(DbError::from)?;
        let discounts = shop_codes::of_brand(&mut conn, store.brand_id).await?;
        let adopted = shop_codes::adopted_codes(&mut conn, store.brand_id).await?;
        if discounts.is_empty() && adopted.is_empty() {
            return Ok(false);
        }
        let access = ShopAccess {
            domain: store.shop_domain.clone(),
            token: self.secrets.open(&store.sealed_token)?,
        };
        let brand = brands::find(&mut conn, store.brand_id).await?;
        let today = Utc::now()
            .with_timezone(&brands::time_zone(brand.id, &brand.time_zone)?)
            .date_naive();
        let offer_ids: Vec<OfferId> = discounts.iter().map(|d| d.offer_id).collect();
        let offer_rows = offers::by_ids(&mut conn, store.brand_id, &offer_ids).await?;
        drop(conn);
        for discount in discounts {
            let Some(offer) = offer_rows.iter().find(|o| o.id == discount.offer_id) else {
                continue;
            };
            let live = effective_status(offer, today) == OfferStatus::Active && offer.starts_on <= today;
            let terms = ShopDiscount {
                title: format!("{} (Sales Tracking)", offer.name),
                discount_type: discount.discount_type,
                value: discount.value,
                once_per_customer: discount.once_per_customer,
                minimum_subtotal: discount.minimum_subtotal,
            };
            self.sync_offer(&access, &discount, &terms, live).await?;
        }
        self.sync_adopted(&access, store.brand_id, adopted).await?;
        Ok(true)
    }

    /// Keeps each adopted code in its own discount while it attributes, and out after.
    async fn sync_adopted(
        &self,
        access: &ShopAccess,
        brand_id: BrandId,
        adopted: Vec<AdoptedCode>,
    ) -> Result<(), SyncError> {
        let client = self.client.as_ref();
        let mut states: Vec<(String, CodeSyncState, Option<String>)> = Vec::new();
        for code in adopted {
            let Some(in_shop) = patiently(|| client.discount_codes(access, &code.discount_id)).await? else {
                let error = "its discount was deleted in Shopify: give the membership a new code".to_string();
                states.push((code.code, CodeSyncState::Failed, Some(error)));
                continue;
            };
            let present = in_shop.iter().find(|c| c.code.eq_ignore_ascii_case(&code.code));
            match (code.attributes, present) {
                (true, None) => {
                    let wanted = [code.code.clone()];
                    for outcome in patiently(|| client.add_codes(access, &code.discount_id, &wanted)).await? {
                        let state = if outcome.error.is_some() {
                            CodeSyncState::Failed
                        } else {
                            CodeSyncState::Synced
                        };
                        states.push((outcome.code, state, outcome.error));
                    }
                }
                (false, Some(found)) => {
                    let ids = [found.id.clone()];
                    patiently(|| client.remove_codes(access, &code.discount_id, &ids)).await?;
                    states.push((code.code, CodeSyncState::Synced, None));
                }
                _ => states.push((code.code, CodeSyncState::Synced, None)),
            }
        }
        let mut conn = self.pool.get().await.map_err(DbError::from)?;
        shop_codes::record_code_states(&mut conn, brand_id, &states).await?;
        Ok(())
    }

    /// Makes one offer's discount in the shop hold exactly its attributing codes.
    async fn sync_offer(
        &self,
        access: &ShopAccess,
        discount: &ShopperDiscountRow,
        terms: &ShopDiscount,
        live: bool,
    ) -> Result<(), SyncError> {
        let (brand_id, offer_id) = (discount.brand_id, discount.offer_id);
        let codes = {
            let mut conn = self.pool.get().await.map_err(DbError::from)?;
            shop_codes::offer_codes(&mut conn, brand_id, offer_id).await?
        };
        let key = |code: &str| code.to_lowercase();
        let wanted: Vec<String> = codes.iter().filter(|c| c.attributes).map(|c| c.code.clone()).collect();
        let wanted_keys: HashSet<String> = wanted.iter().map(|c| key(c)).collect();
        let mut states: Vec<(String, CodeSyncState, Option<String>)> = Vec::new();
        let client = self.client.as_ref();

        let existing = match &discount.shopify_discount_id {
            Some(id) => patiently(|| client.discount_codes(access, id))
                .await?
                .map(|codes| (id.clone(), codes)),
            None => None,
        };
        let mut terms_written = false;
        let (discount_id, in_shop) = match existing {
            Some((id, codes)) => {
                if discount.terms_changed {
                    patiently(|| client.update_discount(access, &id, terms)).await?;
                    terms_written = true;
                }
                (id, codes)
            }
            // None made yet, or deleted in Shopify's admin: made again with a first code.
            None => {
                let mut made = None;
                for code in &wanted {
                    match patiently(|| client.create_discount(access, terms, code)).await {
                        Ok(id) => {
                            made = Some((id, code.clone()));
                            break;
                        }
                        Err(ShopError::Refused(message)) => {
                            states.push((code.clone(), CodeSyncState::Failed, Some(message)));
                        }
                        Err(other) => return Err(other.into()),
                    }
                }
                let mut conn = self.pool.get().await.map_err(DbError::from)?;
                let Some((id, first)) = made else {
                    shop_codes::record_shop_discount(&mut conn, brand_id, offer_id, None, None, None).await?;
                    shop_codes::record_code_states(&mut conn, brand_id, &states).await?;
                    return Ok(());
                };
                // Kept before any further call, which may fail: a round that forgot
                // the discount would make a second one and find its codes taken.
                let read_at = Some(discount.updated_at);
                shop_codes::record_shop_discount(&mut conn, brand_id, offer_id, Some(&id), None, read_at).await?;
                drop(conn);
                terms_written = true;
                states.push((first.clone(), CodeSyncState::Synced, None));
                let first_code = super::ports::ShopCode {
                    id: String::new(),
                    code: first,
                };
                (id, vec![first_code])
            }
        };

        let in_shop_keys: HashSet<String> = in_shop.iter().map(|c| key(&c.code)).collect();
        let missing: Vec<String> = wanted
            .iter()
            .filter(|c| !in_shop_keys.contains(&key(c)) && !states.iter().any(|(s, _, _)| s == *c))
            .cloned()
            .collect();
        if !missing.is_empty() {
            for outcome in patiently(|| client.add_codes(access, &discount_id, &missing)).await? {
                match outcome.error {
                    None => states.push((outcome.code, CodeSyncState::Synced, None)),
                    Some(error) => states.push((outcome.code, CodeSyncState::Failed, Some(error))),
                }
            }
        }
        let extra: Vec<&super::ports::ShopCode> = in_shop
            .iter()
            .filter(|c| !c.id.is_empty() && !wanted_keys.contains(&key(&c.code)))
            .collect();
        if !extra.is_empty() {
            let ids: Vec<String> = extra.iter().map(|c| c.id.clone()).collect();
            patiently(|| client.remove_codes(access, &discount_id, &ids)).await?;
        }
        // Every other code is as it should be: present while it attributes, absent after.
        for code in &codes {
            if !states.iter().any(|(s, _, _)| key(s) == key(&code.code)) {
                let present = in_shop_keys.contains(&key(&code.code));
                if present == code.attributes || !code.attributes {
                    states.push((code.code.clone(), CodeSyncState::Synced, None));
                }
            }
        }
        if discount.shopify_active != Some(live) || terms_written {
            patiently(|| client.set_discount_active(access, &discount_id, live)).await?;
        }
        let mut conn = self.pool.get().await.map_err(DbError::from)?;
        let terms_read_at = terms_written.then_some(discount.updated_at);
        shop_codes::record_shop_discount(
            &mut conn,
            brand_id,
            offer_id,
            Some(&discount_id),
            Some(live),
            terms_read_at,
        )
        .await?;
        shop_codes::record_code_states(&mut conn, brand_id, &states).await?;
        Ok(())
    }
}
