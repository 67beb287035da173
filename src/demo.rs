//! `serve --demo`: a brand with a year of believable activity, made the same way
//! every time (a fixed random seed) so screenshots and walkthroughs match.

use chrono::{Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db::models::{NewMember, NewOffer};
use crate::db::schema::{clicks, conversions, ledger_entries, memberships, promo_codes};
use crate::db::{DbError, DbPool, api_keys, brands, members, offers, projects};
use crate::domain::enums::{OfferType, Role};
use crate::domain::payout::PayoutRule;

const DEMO_SLUG: &str = "demo";
const TIME_ZONE: &str = "America/New_York";

const FIRST_NAMES: &[&str] = &[
    "Ava", "Ben", "Chloe", "Diego", "Emma", "Farah", "Gabe", "Hana", "Isla", "Jonah", "Kai",
    "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tara", "Uma", "Victor",
    "Wren", "Ximena", "Yusuf", "Zoe", "Aria", "Bruno", "Cleo", "Dev", "Elif", "Finn", "Gia",
    "Hugo", "Ines", "Jade", "Kofi", "Luca", "Maya", "Nico",
];
const LAST_NAMES: &[&str] = &[
    "Rivera", "Chen", "Okafor", "Novak", "Haddad", "Silva", "Berg", "Tanaka", "Moreau", "Patel",
];
const COUNTRIES: &[&str] = &["US", "US", "US", "CA", "GB", "DE", "FR", "MX", "AU", "BR"];

struct DemoOffer {
    name: &'static str,
    offer_type: OfferType,
    rule: PayoutRule,
    status: &'static str,
    ends_days_ago: Option<i64>,
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

async fn seed(conn: &mut AsyncPgConnection) -> Result<i64, DbError> {
    let mut rng = StdRng::seed_from_u64(2026);
    let brand = brands::create(conn, "Demo Outdoor Co.", DEMO_SLUG, TIME_ZONE).await?;
    let mut project_ids = Vec::new();
    for name in ["Spring Launch", "Holiday 2026", "Evergreen Creators"] {
        project_ids.push(projects::create(conn, brand.id, name).await?.id);
    }

    let mut member_ids = Vec::new();
    for (i, first) in FIRST_NAMES.iter().enumerate() {
        let last = LAST_NAMES[i % LAST_NAMES.len()];
        let email = format!(
            "{}.{}@example.com",
            first.to_lowercase(),
            last.to_lowercase()
        );
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
            rule: PayoutRule::PercentOfSale {
                percent: percent(10),
            },
            status: "ACTIVE",
            ends_days_ago: None,
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
            status: "ACTIVE",
            ends_days_ago: None,
            projects: &[1],
            members: 14,
        },
        DemoOffer {
            name: "Blog Traffic Boost",
            offer_type: OfferType::SalesLink,
            rule: PayoutRule::FlatPerClick { amount: cents(5) },
            status: "PAUSED",
            ends_days_ago: None,
            projects: &[2],
            members: 8,
        },
        DemoOffer {
            name: "Summer Sale Codes",
            offer_type: OfferType::PromoCode,
            rule: PayoutRule::PercentOfSale {
                percent: percent(15),
            },
            status: "ACTIVE",
            ends_days_ago: None,
            projects: &[0],
            members: 20,
        },
        DemoOffer {
            name: "Winter Jackets",
            offer_type: OfferType::PromoCode,
            rule: PayoutRule::FlatPerConversion { amount: cents(500) },
            status: "ACTIVE",
            ends_days_ago: None,
            projects: &[1, 2],
            members: 12,
        },
        DemoOffer {
            name: "Spring 2025 Clearance",
            offer_type: OfferType::PromoCode,
            rule: PayoutRule::PercentOfSale {
                percent: percent(12),
            },
            status: "ARCHIVED",
            ends_days_ago: Some(200),
            projects: &[0],
            members: 6,
        },
    ];

    let now = Utc::now();
    let today = now.date_naive();
    let year_ago = today - Duration::days(365);
    for (offer_index, demo) in catalog.iter().enumerate() {
        let (payout_percent, payout_flat) = demo.rule.parts();
        let is_link = demo.offer_type == OfferType::SalesLink;
        let prefix = demo
            .name
            .split_whitespace()
            .next()
            .unwrap_or("DEMO")
            .to_uppercase();
        let offer = offers::create(
            conn,
            NewOffer {
                brand_id: brand.id,
                name: demo.name.to_string(),
                offer_type: demo.offer_type.as_str().to_string(),
                destination_url: is_link
                    .then(|| format!("https://shop.example.com/{}?ref=creators", offer_index + 1)),
                code_prefix: (!is_link).then(|| prefix.clone()),
                payout_type: demo.rule.payout_type().as_str().to_string(),
                payout_percent,
                payout_flat,
                attribution_window_days: 30,
                hold_period_days: 30,
                starts_on: year_ago,
                ends_on: demo.ends_days_ago.map(|days| today - Duration::days(days)),
            },
            demo.projects.iter().map(|&i| project_ids[i]).collect(),
        )
        .await?;
        diesel::update(crate::db::schema::offers::table.find((brand.id, offer.id)))
            .set(crate::db::schema::offers::status.eq(demo.status))
            .execute(conn)
            .await?;

        let start = (offer_index * 7) % member_ids.len();
        for slot in 0..demo.members {
            let member_id = member_ids[(start + slot) % member_ids.len()];
            let joined_days_ago: i64 = rng.random_range(30..365);
            let joined_at = now - Duration::days(joined_days_ago);
            let first = FIRST_NAMES[(start + slot) % FIRST_NAMES.len()].to_lowercase();
            let link_code = is_link.then(|| format!("{first}-{offer_index}{slot:02}"));
            let membership_id: i64 = diesel::insert_into(memberships::table)
                .values((
                    memberships::brand_id.eq(brand.id),
                    memberships::offer_id.eq(offer.id),
                    memberships::member_id.eq(member_id),
                    memberships::link_code.eq(&link_code),
                    memberships::joined_at.eq(joined_at),
                    memberships::active.eq(slot % 9 != 8),
                ))
                .returning(memberships::id)
                .get_result(conn)
                .await?;
            let promo_code = (!is_link).then(|| {
                format!(
                    "{prefix}-{}{}",
                    first.to_uppercase(),
                    offer_index * 100 + slot
                )
            });
            if let Some(code) = &promo_code {
                diesel::insert_into(promo_codes::table)
                    .values((
                        promo_codes::brand_id.eq(brand.id),
                        promo_codes::membership_id.eq(membership_id),
                        promo_codes::code.eq(code),
                    ))
                    .execute(conn)
                    .await?;
            }

            // Heavy tail: a few creators drive most of the traffic.
            let popularity = 1.0 / (1.0 + slot as f64).powf(1.1);
            let active_days = joined_days_ago.min(360);
            let click_count = if is_link {
                (400.0 * popularity) as usize + rng.random_range(0..5)
            } else {
                0
            };
            let mut click_rows = Vec::with_capacity(click_count);
            for _ in 0..click_count {
                let at = now - Duration::seconds(rng.random_range(0..active_days * 86_400));
                let is_bot = rng.random_bool(0.04);
                let user_agent = if is_bot {
                    "Googlebot/2.1"
                } else {
                    "Mozilla/5.0 (demo)"
                };
                click_rows.push((
                    clicks::brand_id.eq(brand.id),
                    clicks::id.eq(Uuid::now_v7()),
                    clicks::membership_id.eq(membership_id),
                    clicks::clicked_at.eq(at),
                    clicks::user_agent.eq(user_agent),
                    clicks::is_bot.eq(is_bot),
                ));
            }
            diesel::insert_into(clicks::table)
                .values(&click_rows)
                .execute(conn)
                .await?;

            let conversion_count = (if is_link {
                click_count / 12
            } else {
                (40.0 * popularity) as usize
            }) + rng.random_range(0..2);
            for n in 0..conversion_count {
                let at = now - Duration::seconds(rng.random_range(0..active_days * 86_400));
                let sale = cents(rng.random_range(1_500..30_000));
                let commission = demo.rule.commission_for_sale(sale);
                let rejected = rng.random_bool(0.05);
                let (status, reason) = if rejected {
                    ("REJECTED", Some("fraud check failed"))
                } else {
                    ("ACCEPTED", None)
                };
                let conversion_id: i64 = diesel::insert_into(conversions::table)
                    .values((
                        conversions::brand_id.eq(brand.id),
                        conversions::source.eq("shopify"),
                        conversions::external_order_id.eq(format!("demo-{offer_index}-{slot}-{n}")),
                        conversions::membership_id.eq(membership_id),
                        conversions::occurred_at.eq(at),
                        conversions::original_sale_amount.eq(sale),
                        conversions::sale_amount.eq(sale),
                        conversions::original_commission.eq(commission),
                        conversions::commission.eq(commission),
                        conversions::status.eq(status),
                        conversions::rejection_reason.eq(reason),
                        conversions::attribution.eq(if is_link { "LINK" } else { "PROMO_CODE" }),
                        conversions::promo_code.eq(&promo_code),
                        conversions::payout_type.eq(demo.rule.payout_type().as_str()),
                        conversions::payout_percent.eq(demo.rule.parts().0),
                        conversions::payout_flat.eq(demo.rule.parts().1),
                    ))
                    .returning(conversions::id)
                    .get_result(conn)
                    .await?;
                if !rejected && commission > Decimal::ZERO {
                    diesel::insert_into(ledger_entries::table)
                        .values((
                            ledger_entries::brand_id.eq(brand.id),
                            ledger_entries::membership_id.eq(membership_id),
                            ledger_entries::kind.eq("CONVERSION"),
                            ledger_entries::amount.eq(commission),
                            ledger_entries::conversion_id.eq(conversion_id),
                            ledger_entries::earned_at.eq(at),
                            ledger_entries::payable_at.eq(at + Duration::days(30)),
                        ))
                        .execute(conn)
                        .await?;
                }
            }
        }
    }

    // Orders that matched no creator: kept for the brand to see, earning nothing.
    for n in 0..12 {
        let at = now - Duration::days(rng.random_range(1..300));
        let sale = cents(rng.random_range(2_000..15_000));
        diesel::insert_into(conversions::table)
            .values((
                conversions::brand_id.eq(brand.id),
                conversions::source.eq("shopify"),
                conversions::external_order_id.eq(format!("demo-unattributed-{n}")),
                conversions::occurred_at.eq(at),
                conversions::original_sale_amount.eq(sale),
                conversions::sale_amount.eq(sale),
            ))
            .execute(conn)
            .await?;
    }
    let _: NaiveDate = year_ago;
    Ok(brand.id)
}
