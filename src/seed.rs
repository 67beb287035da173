//! `sales-tracking seed`: a deterministic data set of any size for benchmarks,
//! with a heavy-tailed (Zipf-like) share of activity per membership. Clicks go
//! through the real batch path; orders are inserted in bulk and booked in the
//! ledger and the rollups the same way the order path books them.

use chrono::{DateTime, Duration, Utc};
use diesel::sql_types::{Array, BigInt, Nullable, Numeric, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use crate::db::clicks::{self, NewClick};
use crate::db::models::NewOffer;
use crate::db::stats::{Delta, Deltas};
use crate::db::{DbPool, api_keys, brands, offers};
use crate::domain::enums::{OfferType, Role};
use crate::domain::payout::PayoutRule;

#[derive(Clone, Copy, Debug)]
pub struct SeedSize {
    pub clicks: usize,
    pub conversions: usize,
    pub members: usize,
    pub offers: usize,
    pub seed: u64,
}

const ZONE: chrono_tz::Tz = chrono_tz::America::New_York;
const CLICK_BATCH: usize = 25_000;
const ORDER_BATCH: usize = 10_000;

#[derive(diesel::QueryableByName)]
struct NewMembership {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    offer_id: i64,
}

struct Slot {
    membership_id: i64,
    offer: usize,
}

/// Picks an index with probability proportional to its weight.
struct Weighted(Vec<f64>);

impl Weighted {
    fn new(weights: impl Iterator<Item = f64>) -> Self {
        let mut total = 0.0;
        Weighted(
            weights
                .map(|w| {
                    total += w;
                    total
                })
                .collect(),
        )
    }

    fn pick(&self, rng: &mut StdRng) -> usize {
        let target = rng.random::<f64>() * self.0.last().copied().unwrap_or(0.0);
        self.0.partition_point(|&c| c < target).min(self.0.len() - 1)
    }
}

/// Creates a brand with generated data; returns its slug and a new admin key.
pub async fn seed(pool: &DbPool, size: SeedSize) -> anyhow::Result<(String, String)> {
    anyhow::ensure!(
        size.members > 0 && size.offers > 0,
        "seed needs at least one member and one offer"
    );
    let mut rng = StdRng::seed_from_u64(size.seed);
    let mut conn = pool.get().await?;
    let brand = brands::create(&mut conn, "Generated Brand", "generated", ZONE.name()).await?;
    let now = Utc::now();
    let year_ago = now - Duration::days(365);

    conn.batch_execute(&format!(
        "INSERT INTO members (brand_id, name, email, payout_email, country)
         SELECT {b}, 'Creator ' || n, 'creator' || n || '@example.com', 'creator' || n || '@example.com', 'US'
         FROM generate_series(1, {m}) n",
        b = brand.id,
        m = size.members
    ))
    .await?;
    let member_ids: Vec<i64> = {
        use crate::db::schema::members;
        use diesel::{ExpressionMethods, QueryDsl};
        members::table
            .filter(members::brand_id.eq(brand.id))
            .order(members::id)
            .select(members::id)
            .load(&mut conn)
            .await?
    };

    let mut rules = Vec::new();
    let mut offer_ids = Vec::new();
    for i in 0..size.offers {
        let is_link = i.is_multiple_of(2);
        let rule = match (is_link, i % 5) {
            (true, 0) => PayoutRule::FlatPerClick {
                amount: Decimal::new(2, 2),
            },
            (true, 1) => PayoutRule::PercentPlusFlat {
                percent: Decimal::from(8),
                amount: Decimal::new(100, 2),
            },
            (false, 3) => PayoutRule::FlatPerConversion {
                amount: Decimal::new(500, 2),
            },
            _ => PayoutRule::PercentOfSale {
                percent: Decimal::from(5 + (i % 4) as i64 * 5),
            },
        };
        let (payout_percent, payout_flat) = rule.parts();
        let offer = offers::create(
            &mut conn,
            NewOffer {
                brand_id: brand.id,
                name: format!("{} {}", if is_link { "Link Offer" } else { "Code Offer" }, i + 1),
                offer_type: if is_link {
                    OfferType::SalesLink
                } else {
                    OfferType::PromoCode
                }
                .as_str()
                .to_string(),
                destination_url: is_link.then(|| format!("https://shop.example.com/p/{i}")),
                code_prefix: (!is_link).then(|| format!("G{i}")),
                payout_type: rule.payout_type().as_str().to_string(),
                payout_percent,
                payout_flat,
                attribution_window_days: 30,
                hold_period_days: 30,
                starts_on: (now - Duration::days(400)).with_timezone(&ZONE).date_naive(),
                ends_on: None,
            },
            vec![],
        )
        .await?;
        offer_ids.push(offer.id);
        rules.push(rule);
    }

    // Each member joins one to three offers.
    let (mut m_offers, mut m_members, mut m_codes) = (Vec::new(), Vec::new(), Vec::new());
    for &member_id in &member_ids {
        let mut chosen: Vec<usize> = (0..rng.random_range(1..=3))
            .map(|_| rng.random_range(0..size.offers))
            .collect();
        chosen.sort_unstable();
        chosen.dedup();
        for offer in chosen {
            m_offers.push(offer_ids[offer]);
            m_members.push(member_id);
            m_codes.push((offer.is_multiple_of(2)).then(|| format!("g{}-{member_id}-{offer}", brand.id)));
        }
    }
    let joined: Vec<DateTime<Utc>> = m_offers.iter().map(|_| now - Duration::days(390)).collect();
    let created: Vec<NewMembership> = diesel::sql_query(
        "INSERT INTO memberships (brand_id, offer_id, member_id, link_code, joined_at)
         SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[]) RETURNING id, offer_id",
    )
    .bind::<BigInt, _>(brand.id)
    .bind::<Array<BigInt>, _>(&m_offers)
    .bind::<Array<BigInt>, _>(&m_members)
    .bind::<Array<Nullable<Text>>, _>(&m_codes)
    .bind::<Array<Timestamptz>, _>(&joined)
    .load(&mut conn)
    .await?;
    conn.batch_execute(&format!(
        "INSERT INTO promo_codes (brand_id, membership_id, code)
         SELECT m.brand_id, m.id, o.code_prefix || '-' || m.id FROM memberships m JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
         WHERE m.brand_id = {} AND o.offer_type = 'PROMO_CODE'",
        brand.id
    ))
    .await?;
    let offer_index = |offer_id: i64| {
        offer_ids
            .iter()
            .position(|&o| o == offer_id)
            .expect("an offer of this seed")
    };
    let mut slots: Vec<Slot> = created
        .iter()
        .map(|m| Slot {
            membership_id: m.id,
            offer: offer_index(m.offer_id),
        })
        .collect();
    // Heavy tail: shuffled ranks, weight 1 / rank^1.2.
    slots.shuffle(&mut rng);
    let weight = |rank: usize| 1.0 / ((rank + 1) as f64).powf(1.2);
    let links: Vec<&Slot> = slots.iter().filter(|s| s.offer.is_multiple_of(2)).collect();
    let link_pick = Weighted::new((0..links.len()).map(weight));
    let any_pick = Weighted::new((0..slots.len()).map(weight));

    let mut remaining = if links.is_empty() { 0 } else { size.clicks };
    while remaining > 0 {
        let count = remaining.min(CLICK_BATCH);
        let batch = (0..count)
            .map(|_| {
                let slot = links[link_pick.pick(&mut rng)];
                let at = year_ago + Duration::seconds(rng.random_range(0..365 * 86_400));
                let is_bot = rng.random_bool(0.03);
                NewClick {
                    brand_id: brand.id,
                    membership_id: slot.membership_id,
                    id: uuid::Uuid::now_v7(),
                    clicked_at: at,
                    ip_hash: None,
                    user_agent: if is_bot { "Googlebot/2.1" } else { "Mozilla/5.0 (seed)" }.to_string(),
                    is_bot,
                }
            })
            .collect();
        clicks::store_batch(&mut conn, batch).await?;
        remaining -= count;
    }

    let mut done = 0;
    while done < size.conversions {
        let count = (size.conversions - done).min(ORDER_BATCH);
        insert_orders(
            &mut conn,
            brand.id,
            &slots,
            &any_pick,
            &rules,
            (done, count),
            year_ago,
            &mut rng,
        )
        .await?;
        done += count;
    }
    // Book the accepted ones as the order path does: an entry payable after the hold period.
    conn.batch_execute(&format!(
        "INSERT INTO ledger_entries (brand_id, membership_id, kind, amount, conversion_id, earned_at, payable_at)
         SELECT c.brand_id, c.membership_id, 'CONVERSION', c.commission, c.id, c.occurred_at, c.occurred_at + make_interval(days => o.hold_period_days)
         FROM conversions c JOIN memberships m ON m.brand_id = c.brand_id AND m.id = c.membership_id
         JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
         WHERE c.brand_id = {} AND c.status = 'ACCEPTED'",
        brand.id
    ))
    .await?;
    let (_, key) = api_keys::create(&mut conn, brand.id, Role::Admin, "seed").await?;
    Ok((brand.slug, key))
}

/// A batch of orders as one array per column.
#[derive(Default)]
struct OrderColumns {
    external_ids: Vec<String>,
    membership_ids: Vec<i64>,
    times: Vec<DateTime<Utc>>,
    sales: Vec<Decimal>,
    commissions: Vec<Decimal>,
    statuses: Vec<String>,
    reasons: Vec<Option<String>>,
}

#[allow(clippy::too_many_arguments)]
async fn insert_orders(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    slots: &[Slot],
    pick: &Weighted,
    rules: &[PayoutRule],
    (first, count): (usize, usize),
    since: DateTime<Utc>,
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    let mut columns = OrderColumns::default();
    let mut attribution = Vec::new();
    let mut rule_parts: (Vec<String>, Vec<Option<Decimal>>, Vec<Option<Decimal>>) = Default::default();
    let mut deltas = Deltas::default();
    for n in first..first + count {
        let slot = &slots[pick.pick(rng)];
        let at = since + Duration::seconds(rng.random_range(0..365 * 86_400));
        // Log-uniform sale amounts from $10 to $500.
        let sale = Decimal::from((10f64 * 50f64.powf(rng.random::<f64>()) * 100.0) as i64) / Decimal::ONE_HUNDRED;
        let rule = rules[slot.offer];
        let rejected = rng.random_bool(0.04);
        let commission = if rejected {
            Decimal::ZERO
        } else {
            rule.commission_for_sale(sale).expect("generated sales are small")
        };
        columns.external_ids.push(format!("gen-{n}"));
        columns.membership_ids.push(slot.membership_id);
        columns.times.push(at);
        columns.sales.push(sale);
        columns.commissions.push(commission);
        columns
            .statuses
            .push(if rejected { "REJECTED" } else { "ACCEPTED" }.to_string());
        columns.reasons.push(rejected.then(|| "generated".to_string()));
        attribution.push(
            if slot.offer.is_multiple_of(2) {
                "LINK"
            } else {
                "PROMO_CODE"
            }
            .to_string(),
        );
        let (percent, flat) = rule.parts();
        rule_parts.0.push(rule.payout_type().as_str().to_string());
        rule_parts.1.push(percent);
        rule_parts.2.push(flat);
        if !rejected {
            let day = at.with_timezone(&ZONE).date_naive();
            deltas.add(
                brand_id,
                slot.membership_id,
                day,
                Delta {
                    clicks: 0,
                    conversions: 1,
                    sales: sale,
                    commission,
                },
            );
        }
    }
    diesel::sql_query(
        "INSERT INTO conversions (brand_id, source, external_order_id, membership_id, occurred_at, original_sale_amount, sale_amount,
                                  original_commission, commission, status, rejection_reason, attribution, payout_type, payout_percent, payout_flat)
         SELECT $1, 'seed', o, m, t, s, s, c, c, st, r, a, pt, pp, pf
         FROM unnest($2::text[], $3::bigint[], $4::timestamptz[], $5::numeric[], $6::numeric[], $7::text[], $8::text[], $9::text[], $10::text[], $11::numeric[], $12::numeric[])
              AS x(o, m, t, s, c, st, r, a, pt, pp, pf)",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<Array<Text>, _>(&columns.external_ids)
    .bind::<Array<BigInt>, _>(&columns.membership_ids)
    .bind::<Array<Timestamptz>, _>(&columns.times)
    .bind::<Array<Numeric>, _>(&columns.sales)
    .bind::<Array<Numeric>, _>(&columns.commissions)
    .bind::<Array<Text>, _>(&columns.statuses)
    .bind::<Array<Nullable<Text>>, _>(&columns.reasons)
    .bind::<Array<Text>, _>(&attribution)
    .bind::<Array<Text>, _>(&rule_parts.0)
    .bind::<Array<Nullable<Numeric>>, _>(&rule_parts.1)
    .bind::<Array<Nullable<Numeric>>, _>(&rule_parts.2)
    .execute(conn)
    .await?;
    deltas.apply(conn).await?;
    Ok(())
}
