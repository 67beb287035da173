//! Conversions: orders as recorded, and their refunds and rejections (the
//! workflows are `app::orders`).

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::DbResult;
use super::cached::cached_statement;
use super::models::ConversionRow;
use super::pagination::{Page, PageRequest};
use super::schema::{conversion_adjustments, conversions};
use crate::domain::currency::Valuation;
use crate::domain::enums::{AttributionType, PayoutType};
use crate::domain::ids::{BrandId, ConversionId, MembershipId, OfferId};
use crate::domain::payout::PayoutRule;

/// Who may take an order and on what terms, as of the order's time.
#[derive(QueryableByName)]
pub struct Terms {
    #[diesel(sql_type = BigInt)]
    pub membership_id: MembershipId,
    #[diesel(sql_type = Bool)]
    pub eligible: bool,
    #[diesel(sql_type = Text)]
    pub payout_type: PayoutType,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub payout_percent: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub payout_flat: Option<Decimal>,
    #[diesel(sql_type = Integer)]
    pub hold_period_days: i32,
    #[diesel(sql_type = Integer)]
    pub attribution_window_days: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub clicked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub is_bot: Option<bool>,
    #[diesel(sql_type = Nullable<Text>)]
    pub code: Option<String>,
    /// Whether the offer has active reward rules an order could cross.
    #[diesel(sql_type = Bool)]
    pub has_reward_rules: bool,
}

/// Membership terms as of the order's time `at` (an SQL expression); the joins
/// are shared by every lookup.
fn terms_as_of(at: &str) -> String {
    format!(
        "SELECT m.id AS membership_id,
        (m.active AND m.removed_at IS NULL AND o.status = 'ACTIVE'
         AND o.starts_on <= ({at} AT TIME ZONE b.time_zone)::date
         AND (o.ends_on IS NULL OR o.ends_on >= ({at} AT TIME ZONE b.time_zone)::date)) AS eligible,
        COALESCE(m.payout_type, o.payout_type) AS payout_type,
        CASE WHEN m.payout_type IS NULL THEN o.payout_percent ELSE m.payout_percent END AS payout_percent,
        CASE WHEN m.payout_type IS NULL THEN o.payout_flat ELSE m.payout_flat END AS payout_flat,
        o.hold_period_days, o.attribution_window_days,
        EXISTS (SELECT 1 FROM reward_rules r
                WHERE r.brand_id = m.brand_id AND r.offer_id = m.offer_id AND r.active) AS has_reward_rules"
    )
}
const TERMS_JOINS: &str = "JOIN memberships m ON m.brand_id = x.brand_id AND m.id = x.membership_id
        JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
        JOIN brands b ON b.id = m.brand_id";

/// Which of a membership's codes attribute an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodesValid {
    /// The current code (orders as they happen).
    Current,
    /// The code valid when the order was placed: issued before it and not
    /// replaced until after (orders read from a shop's history).
    AtOrderTime,
}

pub async fn promo_terms(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    at: DateTime<Utc>,
    codes: &[String],
    valid: CodesValid,
) -> DbResult<Vec<Terms>> {
    let lowered: Vec<String> = codes.iter().map(|c| c.trim().to_lowercase()).collect();
    let validity = match valid {
        CodesValid::Current => "x.disabled_at IS NULL",
        CodesValid::AtOrderTime => "x.created_at <= $2 AND (x.disabled_at IS NULL OR x.disabled_at > $2)",
    };
    Ok(diesel::sql_query(format!(
        "{}, NULL::timestamptz AS clicked_at, NULL::boolean AS is_bot, x.code
         FROM promo_codes x {TERMS_JOINS}
         WHERE x.brand_id = $1 AND {validity} AND lower(x.code) = ANY($3)
         ORDER BY array_position($3, lower(x.code))",
        terms_as_of("$2")
    ))
    .bind::<BigInt, _>(brand_id)
    .bind::<Timestamptz, _>(at)
    .bind::<Array<Text>, _>(&lowered)
    .load(conn)
    .await?)
}

pub async fn click_terms(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    at: DateTime<Utc>,
    click_id: Uuid,
) -> DbResult<Option<Terms>> {
    Ok(diesel::sql_query(format!(
        "{}, x.clicked_at, x.is_bot, NULL::text AS code
         FROM clicks x {TERMS_JOINS}
         WHERE x.brand_id = $1 AND x.id = $3",
        terms_as_of("$2")
    ))
    .bind::<BigInt, _>(brand_id)
    .bind::<Timestamptz, _>(at)
    .bind::<SqlUuid, _>(click_id)
    .get_result(conn)
    .await
    .optional()?)
}

/// A membership's terms as of `at`, for crediting an order to it by hand.
pub async fn membership_terms(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    at: DateTime<Utc>,
    membership_id: MembershipId,
) -> DbResult<Option<Terms>> {
    Ok(diesel::sql_query(format!(
        "{}, NULL::timestamptz AS clicked_at, NULL::boolean AS is_bot, NULL::text AS code
         FROM (SELECT brand_id, id AS membership_id FROM memberships WHERE brand_id = $1 AND id = $3) x {TERMS_JOINS}",
        terms_as_of("$2")
    ))
    .bind::<BigInt, _>(brand_id)
    .bind::<Timestamptz, _>(at)
    .bind::<BigInt, _>(membership_id)
    .get_result(conn)
    .await
    .optional()?)
}

/// Credits an unattributed conversion to a membership, with the commission its
/// rule gives (on the original sale and on what is left of it after refunds).
pub async fn assign(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: ConversionId,
    membership_id: MembershipId,
    rule: PayoutRule,
    (original_commission, commission): (Decimal, Decimal),
    key: &str,
) -> DbResult<ConversionRow> {
    let (payout_percent, payout_flat) = rule.parts();
    Ok(diesel::update(conversions::table.find((brand_id, id)))
        .set((
            conversions::membership_id.eq(Some(membership_id)),
            conversions::attribution.eq(Some(AttributionType::Manual)),
            conversions::original_commission.eq(original_commission),
            conversions::commission.eq(commission),
            conversions::payout_type.eq(Some(rule.payout_type().as_str())),
            conversions::payout_percent.eq(payout_percent),
            conversions::payout_flat.eq(payout_flat),
            conversions::assignment_key.eq(Some(key)),
            conversions::updated_at.eq(Utc::now()),
        ))
        .returning(ConversionRow::as_returning())
        .get_result(conn)
        .await?)
}

/// The idempotency key the conversion was credited by hand with, if any.
pub async fn assignment_key(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: ConversionId,
) -> DbResult<Option<String>> {
    Ok(conversions::table
        .find((brand_id, id))
        .select(conversions::assignment_key)
        .first::<Option<String>>(conn)
        .await
        .optional()?
        .flatten())
}

/// What one order of a group looks up: its promo codes (in the order given) and
/// its click, as of its time.
pub struct TermsWanted<'a> {
    pub brand_id: BrandId,
    pub at: DateTime<Utc>,
    pub codes: &'a [String],
    pub click_id: Option<Uuid>,
}

/// Terms found for the order at `order_index` of a group: of its promo code at
/// `position`, or of its click.
#[derive(QueryableByName)]
pub struct OrderTerms {
    #[diesel(sql_type = Integer)]
    pub order_index: i32,
    #[diesel(sql_type = Integer)]
    pub position: i32,
    #[diesel(sql_type = Bool)]
    pub by_click: bool,
    #[diesel(embed)]
    pub terms: Terms,
}

/// The terms of many orders in one statement, each as `promo_terms` and
/// `click_terms` would find them.
pub async fn terms_of_orders(conn: &mut AsyncPgConnection, wanted: &[TermsWanted<'_>]) -> DbResult<Vec<OrderTerms>> {
    let (mut code_orders, mut positions, mut code_brands, mut code_times, mut codes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut click_orders, mut click_brands, mut click_times, mut click_ids) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (index, order) in (0i32..).zip(wanted) {
        for (position, code) in (0i32..).zip(order.codes) {
            code_orders.push(index);
            positions.push(position);
            code_brands.push(order.brand_id);
            code_times.push(order.at);
            codes.push(code.trim().to_lowercase());
        }
        if let Some(id) = order.click_id {
            click_orders.push(index);
            click_brands.push(order.brand_id);
            click_times.push(order.at);
            click_ids.push(id);
        }
    }
    if click_ids.is_empty() {
        return Ok(TermsOfCodes {
            code_orders: &code_orders,
            positions: &positions,
            code_brands: &code_brands,
            code_times: &code_times,
            codes: &codes,
        }
        .load(conn)
        .await?);
    }
    Ok(TermsOfOrders {
        code_orders: &code_orders,
        positions: &positions,
        code_brands: &code_brands,
        code_times: &code_times,
        codes: &codes,
        click_orders: &click_orders,
        click_brands: &click_brands,
        click_times: &click_times,
        click_ids: &click_ids,
    }
    .load(conn)
    .await?)
}

/// The promo-code half of [`TERMS_OF_ORDERS_SQL`].
static TERMS_OF_CODES_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT k.n AS order_index, k.position, false AS by_click, {columns},
                NULL::timestamptz AS clicked_at, NULL::boolean AS is_bot, x.code
         FROM unnest($1::int[], $2::int[], $3::bigint[], $4::timestamptz[], $5::text[])
              AS k (n, position, brand_id, at, code)
         JOIN promo_codes x ON x.brand_id = k.brand_id AND x.disabled_at IS NULL AND lower(x.code) = k.code
         {TERMS_JOINS}",
        columns = terms_as_of("k.at").trim_start_matches("SELECT "),
    )
});

static TERMS_OF_ORDERS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{codes}
         UNION ALL
         SELECT k.n, 0, true, {columns}, x.clicked_at, x.is_bot, NULL::text
         FROM unnest($6::int[], $7::bigint[], $8::timestamptz[], $9::uuid[]) AS k (n, brand_id, at, id)
         JOIN clicks x ON x.brand_id = k.brand_id AND x.id = k.id
         {TERMS_JOINS}",
        codes = *TERMS_OF_CODES_SQL,
        columns = terms_as_of("k.at").trim_start_matches("SELECT "),
    )
});

cached_statement! {
    /// The statement of [`terms_of_orders`] for a group where no order names a
    /// click: the click half would set up a scan of every month's clicks for nothing.
    struct TermsOfCodes<'a> = TERMS_OF_CODES_SQL; {
        code_orders: Array<Integer> => &'a [i32],
        positions: Array<Integer> => &'a [i32],
        code_brands: Array<BigInt> => &'a [BrandId],
        code_times: Array<Timestamptz> => &'a [DateTime<Utc>],
        codes: Array<Text> => &'a [String],
    }
}

cached_statement! {
    /// The statement of [`terms_of_orders`]: the first of an order group's.
    struct TermsOfOrders<'a> = TERMS_OF_ORDERS_SQL; {
        code_orders: Array<Integer> => &'a [i32],
        positions: Array<Integer> => &'a [i32],
        code_brands: Array<BigInt> => &'a [BrandId],
        code_times: Array<Timestamptz> => &'a [DateTime<Utc>],
        codes: Array<Text> => &'a [String],
        click_orders: Array<Integer> => &'a [i32],
        click_brands: Array<BigInt> => &'a [BrandId],
        click_times: Array<Timestamptz> => &'a [DateTime<Utc>],
        click_ids: Array<SqlUuid> => &'a [Uuid],
    }
}

/// A conversion about to be inserted.
pub struct NewConversion<'a> {
    pub brand_id: BrandId,
    pub source: &'a str,
    pub external_order_id: &'a str,
    pub membership_id: Option<MembershipId>,
    pub occurred_at: DateTime<Utc>,
    pub currency: &'a str,
    pub sale_amount: Decimal,
    pub commission: Decimal,
    /// How the order found its membership; none when unattributed.
    pub attribution: Option<AttributionType>,
    pub click_id: Option<Uuid>,
    pub promo_code: Option<String>,
    /// The payout rule the commission was computed with.
    pub rule: Option<PayoutRule>,
    /// Sold in another currency: how `sale_amount` was valued.
    pub valuation: Option<&'a Valuation>,
}

/// Inserts a conversion; none when the same order (source and external id) is there.
/// A conversion's columns as inserted.
#[derive(Insertable)]
#[diesel(table_name = conversions)]
struct ConversionValues<'a> {
    brand_id: BrandId,
    source: &'a str,
    external_order_id: &'a str,
    membership_id: Option<MembershipId>,
    occurred_at: DateTime<Utc>,
    currency: &'a str,
    original_sale_amount: Decimal,
    sale_amount: Decimal,
    original_commission: Decimal,
    commission: Decimal,
    attribution: Option<AttributionType>,
    click_id: Option<Uuid>,
    promo_code: Option<&'a str>,
    payout_type: Option<PayoutType>,
    payout_percent: Option<Decimal>,
    payout_flat: Option<Decimal>,
    order_currency: Option<&'a str>,
    order_amount: Option<Decimal>,
    exchange_rate: Option<Decimal>,
    rate_published_on: Option<NaiveDate>,
    rate_source: Option<&'a str>,
}

impl<'a> From<&'a NewConversion<'a>> for ConversionValues<'a> {
    fn from(new: &'a NewConversion<'a>) -> Self {
        let (payout_percent, payout_flat) = new.rule.map_or((None, None), |r| r.parts());
        ConversionValues {
            brand_id: new.brand_id,
            source: new.source,
            external_order_id: new.external_order_id,
            membership_id: new.membership_id,
            occurred_at: new.occurred_at,
            currency: new.currency,
            original_sale_amount: new.sale_amount,
            sale_amount: new.sale_amount,
            original_commission: new.commission,
            commission: new.commission,
            attribution: new.attribution,
            click_id: new.click_id,
            promo_code: new.promo_code.as_deref(),
            payout_type: new.rule.map(|r| r.payout_type()),
            payout_percent,
            payout_flat,
            order_currency: new.valuation.map(|v| v.order_currency.as_str()),
            order_amount: new.valuation.map(|v| v.order_amount),
            exchange_rate: new.valuation.map(|v| v.rate),
            rate_published_on: new.valuation.map(|v| v.published_on),
            rate_source: new.valuation.map(|v| v.source.as_str()),
        }
    }
}

/// Inserts a conversion; none when the order was recorded before.
pub async fn insert(conn: &mut AsyncPgConnection, new: NewConversion<'_>) -> DbResult<Option<ConversionRow>> {
    Ok(diesel::insert_into(conversions::table)
        .values(ConversionValues::from(&new))
        .on_conflict_do_nothing()
        .returning(ConversionRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// Inserts conversions in one statement; returns those not recorded before.
pub async fn insert_many(conn: &mut AsyncPgConnection, new: &[NewConversion<'_>]) -> DbResult<Vec<ConversionRow>> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<ConversionValues> = new.iter().map(ConversionValues::from).collect();
    Ok(InsertConversions {
        brand_ids: &values.iter().map(|v| v.brand_id).collect::<Vec<_>>(),
        sources: &values.iter().map(|v| v.source).collect::<Vec<_>>(),
        external_order_ids: &values.iter().map(|v| v.external_order_id).collect::<Vec<_>>(),
        membership_ids: &values.iter().map(|v| v.membership_id).collect::<Vec<_>>(),
        occurred_at: &values.iter().map(|v| v.occurred_at).collect::<Vec<_>>(),
        currencies: &values.iter().map(|v| v.currency).collect::<Vec<_>>(),
        sale_amounts: &values.iter().map(|v| v.sale_amount).collect::<Vec<_>>(),
        commissions: &values.iter().map(|v| v.commission).collect::<Vec<_>>(),
        attributions: &values.iter().map(|v| v.attribution).collect::<Vec<_>>(),
        click_ids: &values.iter().map(|v| v.click_id).collect::<Vec<_>>(),
        promo_codes: &values.iter().map(|v| v.promo_code).collect::<Vec<_>>(),
        payout_types: &values.iter().map(|v| v.payout_type).collect::<Vec<_>>(),
        payout_percents: &values.iter().map(|v| v.payout_percent).collect::<Vec<_>>(),
        payout_flats: &values.iter().map(|v| v.payout_flat).collect::<Vec<_>>(),
        order_currencies: &values.iter().map(|v| v.order_currency).collect::<Vec<_>>(),
        order_amounts: &values.iter().map(|v| v.order_amount).collect::<Vec<_>>(),
        exchange_rates: &values.iter().map(|v| v.exchange_rate).collect::<Vec<_>>(),
        rates_published_on: &values.iter().map(|v| v.rate_published_on).collect::<Vec<_>>(),
        rate_sources: &values.iter().map(|v| v.rate_source).collect::<Vec<_>>(),
    }
    .load(conn)
    .await?)
}

cached_statement! {
    /// The statement of [`insert_many`]: one text whatever the number of orders.
    struct InsertConversions<'a> = "INSERT INTO conversions (brand_id, source, external_order_id, membership_id,
             occurred_at, currency, original_sale_amount, sale_amount, original_commission, commission,
             attribution, click_id, promo_code, payout_type, payout_percent, payout_flat,
             order_currency, order_amount, exchange_rate, rate_published_on, rate_source)
         SELECT brand_id, source, external_order_id, membership_id, occurred_at, currency,
                sale_amount, sale_amount, commission, commission, attribution, click_id, promo_code,
                payout_type, payout_percent, payout_flat, order_currency, order_amount,
                exchange_rate, rate_published_on, rate_source
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $6::text[],
                     $7::numeric[], $8::numeric[], $9::text[], $10::uuid[], $11::text[], $12::text[],
                     $13::numeric[], $14::numeric[], $15::text[], $16::numeric[], $17::numeric[],
                     $18::date[], $19::text[])
             WITH ORDINALITY AS v (brand_id, source, external_order_id, membership_id, occurred_at,
                 currency, sale_amount, commission, attribution, click_id, promo_code, payout_type,
                 payout_percent, payout_flat, order_currency, order_amount, exchange_rate,
                 rate_published_on, rate_source, position)
         ORDER BY position
         ON CONFLICT DO NOTHING
         RETURNING *"; {
        brand_ids: Array<BigInt> => &'a [BrandId],
        sources: Array<Text> => &'a [&'a str],
        external_order_ids: Array<Text> => &'a [&'a str],
        membership_ids: Array<Nullable<BigInt>> => &'a [Option<MembershipId>],
        occurred_at: Array<Timestamptz> => &'a [DateTime<Utc>],
        currencies: Array<Text> => &'a [&'a str],
        sale_amounts: Array<Numeric> => &'a [Decimal],
        commissions: Array<Numeric> => &'a [Decimal],
        attributions: Array<Nullable<Text>> => &'a [Option<AttributionType>],
        click_ids: Array<Nullable<SqlUuid>> => &'a [Option<Uuid>],
        promo_codes: Array<Nullable<Text>> => &'a [Option<&'a str>],
        payout_types: Array<Nullable<Text>> => &'a [Option<PayoutType>],
        payout_percents: Array<Nullable<Numeric>> => &'a [Option<Decimal>],
        payout_flats: Array<Nullable<Numeric>> => &'a [Option<Decimal>],
        order_currencies: Array<Nullable<Text>> => &'a [Option<&'a str>],
        order_amounts: Array<Nullable<Numeric>> => &'a [Option<Decimal>],
        exchange_rates: Array<Nullable<Numeric>> => &'a [Option<Decimal>],
        rates_published_on: Array<Nullable<diesel::sql_types::Date>> => &'a [Option<NaiveDate>],
        rate_sources: Array<Nullable<Text>> => &'a [Option<&'a str>],
    }
}

pub async fn find_external(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    source: &str,
    external_order_id: &str,
) -> DbResult<Option<ConversionRow>> {
    Ok(conversions::table
        .filter(conversions::brand_id.eq(brand_id))
        .filter(
            conversions::source
                .eq(source)
                .and(conversions::external_order_id.eq(external_order_id)),
        )
        .select(ConversionRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: ConversionId,
) -> DbResult<Option<ConversionRow>> {
    Ok(conversions::table
        .find((brand_id, id))
        .select(ConversionRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The conversion, locked until the transaction ends.
pub async fn lock(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: ConversionId,
) -> DbResult<Option<ConversionRow>> {
    Ok(conversions::table
        .find((brand_id, id))
        .select(ConversionRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// Whether a change with this reference (a refund id, an idempotency key) was applied.
pub async fn change_seen(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: ConversionId,
    reference: &str,
) -> DbResult<bool> {
    let seen: i64 = conversion_adjustments::table
        .filter(conversion_adjustments::brand_id.eq(brand_id))
        .filter(
            conversion_adjustments::conversion_id
                .eq(id)
                .and(conversion_adjustments::reference.eq(reference)),
        )
        .count()
        .get_result(conn)
        .await?;
    Ok(seen > 0)
}

/// A conversion's amounts and status after a refund or rejection.
pub struct Adjusted<'a> {
    pub sale_amount: Decimal,
    pub commission: Decimal,
    pub status: &'a str,
    pub rejection_reason: Option<String>,
    /// Refunded so far in the order's own currency (0 for an order in the brand's).
    pub order_refunded: Decimal,
}

/// One refund or rejection, as logged.
pub struct Adjustment<'a> {
    /// `REFUND` or `REJECT`.
    pub kind: &'a str,
    pub sale_amount: Decimal,
    pub commission: Decimal,
    pub reference: &'a str,
}

/// Stores a conversion's new amounts and logs the adjustment that made them.
pub async fn adjust(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: ConversionId,
    adjusted: Adjusted<'_>,
    adjustment: Adjustment<'_>,
) -> DbResult<ConversionRow> {
    let updated: ConversionRow = diesel::update(conversions::table.find((brand_id, id)))
        .set((
            conversions::sale_amount.eq(adjusted.sale_amount),
            conversions::commission.eq(adjusted.commission),
            conversions::status.eq(adjusted.status),
            conversions::rejection_reason.eq(adjusted.rejection_reason),
            conversions::order_refunded.eq(adjusted.order_refunded),
            conversions::updated_at.eq(Utc::now()),
        ))
        .returning(ConversionRow::as_returning())
        .get_result(conn)
        .await?;
    diesel::insert_into(conversion_adjustments::table)
        .values((
            conversion_adjustments::brand_id.eq(brand_id),
            conversion_adjustments::conversion_id.eq(id),
            conversion_adjustments::kind.eq(adjustment.kind),
            conversion_adjustments::sale_amount.eq(adjustment.sale_amount),
            conversion_adjustments::commission.eq(adjustment.commission),
            conversion_adjustments::reference.eq(adjustment.reference),
        ))
        .execute(conn)
        .await?;
    Ok(updated)
}

/// Which conversions a list shows.
#[derive(Clone, Copy, Debug)]
pub enum Owner {
    Offer(OfferId),
    Membership(MembershipId),
    /// Orders that matched no membership.
    Unattributed,
}

/// Conversions newest first (by id), optionally of one status.
pub async fn page(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    owner: Owner,
    status: Option<&str>,
    request: PageRequest,
) -> DbResult<Page<ConversionRow>> {
    use super::schema::memberships;
    let mut query = conversions::table
        .filter(conversions::brand_id.eq(brand_id))
        .into_boxed();
    query = match owner {
        Owner::Membership(id) => query.filter(conversions::membership_id.eq(id)),
        Owner::Unattributed => query.filter(conversions::membership_id.is_null()),
        Owner::Offer(offer_id) => query.filter(
            conversions::membership_id.eq_any(
                memberships::table
                    .filter(
                        memberships::brand_id
                            .eq(brand_id)
                            .and(memberships::offer_id.eq(offer_id)),
                    )
                    .select(memberships::id.nullable()),
            ),
        ),
    };
    if let Some(status) = status {
        query = query.filter(conversions::status.eq(status.to_string()));
    }
    if let Some(before) = request.before_id {
        query = query.filter(conversions::id.lt(before));
    }
    let rows = query
        .order(conversions::id.desc())
        .limit(request.limit + 1)
        .select(ConversionRow::as_select())
        .load(conn)
        .await?;
    Ok(Page::from_overfetched(rows, request.limit))
}

/// One order of the orders export, with its offer and member when attributed.
#[derive(QueryableByName, Debug)]
pub struct OrderLine {
    #[diesel(sql_type = BigInt)]
    pub id: ConversionId,
    #[diesel(sql_type = Text)]
    pub external_order_id: String,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Timestamptz)]
    pub occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    pub offer_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub member_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub attribution: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub promo_code: Option<String>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Numeric)]
    pub original_sale_amount: Decimal,
    #[diesel(sql_type = Numeric)]
    pub sale_amount: Decimal,
    #[diesel(sql_type = Numeric)]
    pub commission: Decimal,
    #[diesel(sql_type = Text)]
    pub currency: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub order_currency: Option<String>,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub order_amount: Option<Decimal>,
    #[diesel(sql_type = Numeric)]
    pub order_refunded: Decimal,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub exchange_rate: Option<Decimal>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Date>)]
    pub rate_published_on: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Text>)]
    pub rate_source: Option<String>,
}

/// Up to `limit` of the brand's orders placed in `[from, until)` after `after`,
/// in id order (one pass over the brand's rows, page after page).
pub async fn order_lines(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    (from, until): (DateTime<Utc>, DateTime<Utc>),
    after: ConversionId,
    limit: i64,
) -> DbResult<Vec<OrderLine>> {
    Ok(diesel::sql_query(
        "SELECT c.id, c.external_order_id, c.source, c.occurred_at, o.name AS offer_name, mb.name AS member_name,
                c.attribution, c.promo_code, c.status, c.original_sale_amount, c.sale_amount, c.commission,
                c.currency, c.order_currency, c.order_amount, c.order_refunded, c.exchange_rate,
                c.rate_published_on, c.rate_source
         FROM conversions c
         LEFT JOIN memberships m ON m.brand_id = c.brand_id AND m.id = c.membership_id
         LEFT JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
         LEFT JOIN members mb ON mb.brand_id = m.brand_id AND mb.id = m.member_id
         WHERE c.brand_id = $1 AND c.id > $2 AND c.occurred_at >= $3 AND c.occurred_at < $4
         ORDER BY c.id
         LIMIT $5",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<BigInt, _>(after)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(until)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?)
}
