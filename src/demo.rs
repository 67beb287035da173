//! `serve --demo`: a brand with a year of believable activity. Clicks and orders
//! go through the same code as real traffic (batches, attribution, pricing,
//! refunds), so the ledger and the daily rollups are exactly what production
//! would hold. The shape of the activity comes from a fixed random seed.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db::clicks::{self, NewClick};
use crate::db::conversions::{self, Change, ChangeRequest, OrderInput, Recorded};
use crate::db::models::{NewMember, NewOffer};
use crate::db::schema::{memberships, offers as offers_table};
use crate::db::{DbError, DbPool, api_keys, brands, members, memberships as membership_rows, offers, projects};
use crate::domain::enums::{OfferType, Role};
use crate::domain::payout::PayoutRule;
use crate::domain::tracking::is_bot;

const DEMO_SLUG: &str = "demo";
const TIME_ZONE: Tz = chrono_tz::America::New_York;

const FIRST_NAMES: &[&str] = &[
    "Ava", "Ben", "Chloe", "Diego", "Emma", "Farah", "Gabe", "Hana", "Isla", "Jonah", "Kai", "Lena", "Mateo", "Nora",
    "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tara", "Uma", "Victor", "Wren", "Ximena", "Yusuf", "Zoe", "Aria",
    "Bruno", "Cleo", "Dev", "Elif", "Finn", "Gia", "Hugo", "Ines", "Jade", "Kofi", "Luca", "Maya", "Nico",
];
const LAST_NAMES: &[&str] = &[
    "Rivera", "Chen", "Okafor", "Novak", "Haddad", "Silva", "Berg", "Tanaka", "Moreau", "Patel",
];
const COUNTRIES: &[&str] = &["US", "US", "US", "CA", "GB", "DE", "FR", "MX", "AU", "BR"];
const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
];

struct DemoOffer {
    name: &'static str,
    offer_type: OfferType,
    rule: PayoutRule,
    /// The status it ends with; activity is recorded while it was active.
    final_status: &'static str,
    ended_days_ago: Option<i64>,
    projects: &'static [usize],
    members: usize,
}

/// Creates the demo brand on first use, and returns a new admin key for it.
pub async fn ensure_demo_brand(pool: &DbPool) -> anyhow::Result<String> {
    let mut conn = pool.get().await?;
    let brand_id = match brands::find_by_slug(&mut conn, DEMO_SLUG).await {
        Ok(brand) => brand.id,
        Err(DbError::NotFound) => {
            conn.transaction::<_, DbError, _>(|conn| seed(conn).scope_boxed())
                .await?
        }
        Err(other) => return Err(other.into()),
    };
    let (_, secret) = api_keys::create(&mut conn, brand_id, Role::Admin, "demo").await?;
    Ok(secret)
}

fn percent(value: i64) -> Decimal {
    Decimal::new(value, 0)
}

fn cents(value: i64) -> Decimal {
    Decimal::new(value, 2)
}

/// A click id whose UUIDv7 time is the click's, so ids sort like times.
fn click_id_at(at: DateTime<Utc>) -> Uuid {
    let seconds = u64::try_from(at.timestamp()).unwrap_or_default();
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        seconds,
        at.timestamp_subsec_nanos(),
    ))
}

async fn seed(conn: &mut AsyncPgConnection) -> Result<i64, DbError> {
    let mut rng = StdRng::seed_from_u64(2026);
    let brand = brands::create(conn, "Demo Outdoor Co.", DEMO_SLUG, TIME_ZONE.name()).await?;
    let mut project_ids = Vec::new();
    for name in ["Spring Launch", "Holiday 2026", "Evergreen Creators"] {
        project_ids.push(projects::create(conn, brand.id, name).await?.id);
    }
    let mut member_ids = Vec::new();
    for (i, first) in FIRST_NAMES.iter().enumerate() {
        let last = LAST_NAMES[i % LAST_NAMES.len()];
        let email = format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase());
        let member = NewMember {
            brand_id: brand.id,
            name: format!("{first} {last}"),
            payout_email: Some(email.clone()),
            email,
            country: Some(COUNTRIES[i % COUNTRIES.len()].to_string()),
        };
        member_ids.push(members::create(conn, &member).await?.id);
    }

    let catalog = [
        DemoOffer {
            name: "Trail Running Shoes",
            offer_type: OfferType::SalesLink,
            rule: PayoutRule::PercentOfSale { percent: percent(10) },
            final_status: "ACTIVE",
            ended_days_ago: None,
            projects: &[0, 2],
            members: 18,
        },
        DemoOffer {
            name: "Camping Gear Bundle",
            offer_type: OfferType::SalesLink,
            rule: PayoutRule::PercentPlusFlat {
                percent: percent(8),
                amount: cents(200),
            },
            final_status: "ACTIVE",
            ended_days_ago: None,
            projects: &[1],
            members: 14,
        },
        DemoOffer {
            name: "Blog Traffic Boost",
            offer_type: OfferType::SalesLink,
            rule: PayoutRule::FlatPerClick { amount: cents(5) },
            final_status: "PAUSED",
            ended_days_ago: None,
            projects: &[2],
            members: 8,
        },
        DemoOffer {
            name: "Summer Sale Codes",
            offer_type: OfferType::PromoCode,
            rule: PayoutRule::PercentOfSale { percent: percent(15) },
            final_status: "ACTIVE",
            ended_days_ago: None,
            projects: &[0],
            members: 20,
        },
        DemoOffer {
            name: "Winter Jackets",
            offer_type: OfferType::PromoCode,
            rule: PayoutRule::FlatPerConversion { amount: cents(500) },
            final_status: "ACTIVE",
            ended_days_ago: None,
            projects: &[1, 2],
            members: 12,
        },
        DemoOffer {
            name: "Spring 2025 Clearance",
            offer_type: OfferType::PromoCode,
            rule: PayoutRule::PercentOfSale { percent: percent(12) },
            final_status: "ARCHIVED",
            ended_days_ago: Some(200),
            projects: &[0],
            members: 6,
        },
    ];

    let now = Utc::now();
    let year_ago = now - Duration::days(365);
    for (offer_index, demo) in catalog.iter().enumerate() {
        let (payout_percent, payout_flat) = demo.rule.parts();
        let is_link = demo.offer_type == OfferType::SalesLink;
        let offer = offers::create(
            conn,
            NewOffer {
                brand_id: brand.id,
                name: demo.name.to_string(),
                offer_type: demo.offer_type.as_str().to_string(),
                destination_url: is_link.then(|| format!("https://shop.example.com/{}?ref=creators", offer_index + 1)),
                code_prefix: (!is_link).then(|| demo.name.split_whitespace().next().unwrap_or("DEMO").to_uppercase()),
                payout_type: demo.rule.payout_type().as_str().to_string(),
                payout_percent,
                payout_flat,
                attribution_window_days: 30,
                hold_period_days: 30,
                starts_on: year_ago.with_timezone(&TIME_ZONE).date_naive(),
                ends_on: None,
            },
            demo.projects.iter().map(|&i| project_ids[i]).collect(),
        )
        .await?;
        let start = (offer_index * 7) % member_ids.len();
        let chosen: Vec<i64> = (0..demo.members)
            .map(|slot| member_ids[(start + slot) % member_ids.len()])
            .collect();
        let rows = membership_rows::add(conn, &offer, &chosen).await?;
        let codes =
            membership_rows::current_promo_codes(conn, brand.id, &rows.iter().map(|m| m.id).collect::<Vec<_>>())
                .await?;
        // Activity ends where the offer did.
        let active_until = demo.ended_days_ago.map_or(now, |days| now - Duration::days(days));

        for (slot, membership) in rows.iter().enumerate() {
            let joined_at = year_ago + Duration::days(rng.random_range(0..200));
            diesel::update(memberships::table.find((brand.id, membership.id)))
                .set(memberships::joined_at.eq(joined_at))
                .execute(conn)
                .await?;
            let active_seconds = (active_until - joined_at).num_seconds().max(86_400);
            let random_time = |rng: &mut StdRng| joined_at + Duration::seconds(rng.random_range(0..active_seconds));
            // Heavy tail: a few creators drive most of the traffic.
            let popularity = 1.0 / (1.0 + slot as f64).powf(1.1);

            let mut human_clicks = Vec::new();
            if is_link {
                let count = (500.0 * popularity) as usize + rng.random_range(1..6);
                let batch: Vec<NewClick> = (0..count)
                    .map(|_| {
                        let at = random_time(&mut rng);
                        let user_agent = if rng.random_bool(0.04) {
                            "Googlebot/2.1 (+http://www.google.com/bot.html)"
                        } else {
                            USER_AGENTS[rng.random_range(0..USER_AGENTS.len())]
                        };
                        NewClick {
                            brand_id: brand.id,
                            membership_id: membership.id,
                            id: click_id_at(at),
                            clicked_at: at,
                            ip_hash: None,
                            is_bot: is_bot(user_agent),
                            user_agent: user_agent.to_string(),
                        }
                    })
                    .collect();
                human_clicks = batch
                    .iter()
                    .filter(|c| !c.is_bot)
                    .map(|c| (c.id, c.clicked_at))
                    .collect();
                clicks::store_batch(conn, batch).await?;
            }

            let orders = if is_link {
                human_clicks.len() / 12
            } else {
                (45.0 * popularity) as usize + rng.random_range(0..2)
            };
            for n in 0..orders {
                let (occurred_at, click_id, promo_codes) = if is_link {
                    let (click_id, clicked_at) = human_clicks[rng.random_range(0..human_clicks.len())];
                    let at = (clicked_at + Duration::minutes(rng.random_range(1..72 * 60))).min(active_until);
                    (at, Some(click_id), vec![])
                } else {
                    (
                        random_time(&mut rng),
                        None,
                        codes.get(&membership.id).cloned().into_iter().collect(),
                    )
                };
                let order = OrderInput {
                    source: "shopify".into(),
                    external_order_id: format!("demo-{offer_index}-{slot}-{n}"),
                    occurred_at,
                    sale_amount: cents(rng.random_range(1_500..30_000)),
                    currency: "USD".into(),
                    promo_codes,
                    click_id,
                };
                let Recorded::New(row) = conversions::record(conn, brand.id, TIME_ZONE, order).await? else {
                    continue;
                };
                let change = match rng.random_range(0..100) {
                    0..=4 => Some(Change::Reject("failed the fraud check".into())),
                    5..=8 => Some(Change::Refund(Some((row.sale_amount / Decimal::TWO).round_dp(2)))),
                    9..=10 => Some(Change::Refund(None)),
                    _ => None,
                };
                if let Some(change) = change {
                    let request = ChangeRequest {
                        change,
                        reference: "demo".into(),
                    };
                    conversions::change(conn, brand.id, TIME_ZONE, row.id, request)
                        .await
                        .map_err(|e| match e {
                            conversions::ChangeError::Db(db) => db,
                            other => DbError::CheckViolation(other.to_string()),
                        })?;
                }
            }
        }
        // Now the offer takes its final state; a few creators left their offers.
        diesel::update(offers_table::table.find((brand.id, offer.id)))
            .set((
                offers_table::status.eq(demo.final_status),
                offers_table::ends_on.eq(demo
                    .ended_days_ago
                    .map(|days| (now - Duration::days(days)).with_timezone(&TIME_ZONE).date_naive())),
            ))
            .execute(conn)
            .await?;
        if let Some(last) = rows.last().filter(|_| rows.len() > 5) {
            diesel::update(memberships::table.find((brand.id, last.id)))
                .set(memberships::active.eq(false))
                .execute(conn)
                .await?;
        }
    }

    // Orders that matched no creator: kept for the brand to see, earning nothing.
    for n in 0..12 {
        let order = OrderInput {
            source: "shopify".into(),
            external_order_id: format!("demo-unattributed-{n}"),
            occurred_at: now - Duration::days(rng.random_range(1..300)),
            sale_amount: cents(rng.random_range(2_000..15_000)),
            currency: "USD".into(),
            promo_codes: vec!["FRIENDS10".into()],
            click_id: None,
        };
        conversions::record(conn, brand.id, TIME_ZONE, order).await?;
    }
    Ok(brand.id)
}
