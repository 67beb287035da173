use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rand::Rng;

use super::DbResult;
use super::models::{MembershipRow, OfferRow, PromoCodeRow};
use super::schema::{link_codes, members, memberships, offers, promo_codes};
use crate::domain::enums::OfferType;
use crate::domain::ids::{BrandId, MemberId, MembershipId, OfferId};
use crate::domain::payout::PayoutRule;

/// What `/r/{code}` needs: whose link it is and where it goes.
#[derive(Clone, Debug)]
pub struct LinkTarget {
    pub brand_id: BrandId,
    pub membership_id: MembershipId,
    pub destination_url: String,
}

/// The membership a shopper's link code names: found through `link_codes` (the
/// brand is not known yet), then within its brand.
pub async fn find_link(conn: &mut AsyncPgConnection, link_code: &str) -> DbResult<Option<LinkTarget>> {
    let row: Option<(BrandId, MembershipId, Option<String>)> = link_codes::table
        .inner_join(
            memberships::table.on(memberships::brand_id
                .eq(link_codes::brand_id)
                .and(memberships::id.eq(link_codes::membership_id))),
        )
        .inner_join(
            offers::table.on(offers::brand_id
                .eq(memberships::brand_id)
                .and(offers::id.eq(memberships::offer_id))),
        )
        .filter(link_codes::code.eq(link_code))
        .select((memberships::brand_id, memberships::id, offers::destination_url))
        .first(conn)
        .await
        .optional()?;
    Ok(row.and_then(|(brand_id, membership_id, url)| {
        url.map(|destination_url| LinkTarget {
            brand_id,
            membership_id,
            destination_url,
        })
    }))
}

const CODE_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Letters of a member's first name, for readable codes.
fn name_part(member_name: &str, max: usize) -> String {
    let first = member_name.split_whitespace().next().unwrap_or("member");
    let cleaned: String = first.chars().filter(char::is_ascii_alphanumeric).take(max).collect();
    if cleaned.is_empty() {
        "member".to_string()
    } else {
        cleaned
    }
}

fn random_suffix(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// A link code like `ana-k3x9q2`, not in use anywhere.
async fn fresh_link_code(conn: &mut AsyncPgConnection, member_name: &str) -> DbResult<String> {
    loop {
        let code = format!("{}-{}", name_part(member_name, 16).to_lowercase(), random_suffix(6));
        let taken: i64 = link_codes::table
            .filter(link_codes::code.eq(&code))
            .count()
            .get_result(conn)
            .await?;
        if taken == 0 {
            return Ok(code);
        }
    }
}

/// A promo code like `SUMMER-ANA7K`, never issued before in the brand.
pub async fn fresh_promo_code(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    prefix: &str,
    member_name: &str,
) -> DbResult<String> {
    loop {
        let code = format!("{prefix}-{}{}", name_part(member_name, 10), random_suffix(3)).to_uppercase();
        if !promo_code_taken(conn, brand_id, &code).await? {
            return Ok(code);
        }
    }
}

/// Whether a code was ever issued in the brand, in any case.
pub async fn promo_code_taken(conn: &mut AsyncPgConnection, brand_id: BrandId, code: &str) -> DbResult<bool> {
    let taken: i64 = promo_codes::table
        .filter(promo_codes::brand_id.eq(brand_id))
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(code) = lower(")
                .bind::<diesel::sql_types::Text, _>(code)
                .sql(")"),
        )
        .count()
        .get_result(conn)
        .await?;
    Ok(taken > 0)
}

/// Puts members in an offer with a fresh link or promo code each. Call inside a transaction.
pub async fn add(
    conn: &mut AsyncPgConnection,
    offer: &OfferRow,
    member_ids: &[MemberId],
) -> DbResult<Vec<MembershipRow>> {
    let names: HashMap<MemberId, String> = members::table
        .filter(members::brand_id.eq(offer.brand_id).and(members::id.eq_any(member_ids)))
        .select((members::id, members::name))
        .load(conn)
        .await?
        .into_iter()
        .collect();
    let is_link = offer.offer_type == OfferType::SalesLink;
    let mut added = Vec::with_capacity(member_ids.len());
    for member_id in member_ids {
        let name = names.get(member_id).map_or("member", String::as_str);
        let link_code = if is_link {
            Some(fresh_link_code(conn, name).await?)
        } else {
            None
        };
        let row: MembershipRow = diesel::insert_into(memberships::table)
            .values((
                memberships::brand_id.eq(offer.brand_id),
                memberships::offer_id.eq(offer.id),
                memberships::member_id.eq(member_id),
                memberships::link_code.eq(link_code),
            ))
            .returning(MembershipRow::as_returning())
            .get_result(conn)
            .await?;
        if let Some(prefix) = offer.code_prefix.as_deref().filter(|_| !is_link) {
            let code = fresh_promo_code(conn, offer.brand_id, prefix, name).await?;
            diesel::insert_into(promo_codes::table)
                .values((
                    promo_codes::brand_id.eq(offer.brand_id),
                    promo_codes::membership_id.eq(row.id),
                    promo_codes::code.eq(code),
                ))
                .execute(conn)
                .await?;
        }
        added.push(row);
    }
    Ok(added)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: MembershipId,
) -> DbResult<Option<MembershipRow>> {
    Ok(memberships::table
        .find((brand_id, id))
        .select(MembershipRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Memberships by id, for loaders.
pub async fn by_ids(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    ids: &[MembershipId],
) -> DbResult<Vec<MembershipRow>> {
    Ok(memberships::table
        .filter(memberships::brand_id.eq(brand_id).and(memberships::id.eq_any(ids)))
        .select(MembershipRow::as_select())
        .load(conn)
        .await?)
}

/// A member's memberships across offers.
pub async fn for_members(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    member_ids: &[MemberId],
) -> DbResult<Vec<MembershipRow>> {
    Ok(memberships::table
        .filter(
            memberships::brand_id
                .eq(brand_id)
                .and(memberships::member_id.eq_any(member_ids)),
        )
        .order(memberships::id.asc())
        .select(MembershipRow::as_select())
        .load(conn)
        .await?)
}

/// The current (not disabled) promo code of each membership.
pub async fn current_promo_codes(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_ids: &[MembershipId],
) -> DbResult<HashMap<MembershipId, String>> {
    Ok(promo_codes::table
        .filter(
            promo_codes::brand_id
                .eq(brand_id)
                .and(promo_codes::membership_id.eq_any(membership_ids)),
        )
        .filter(promo_codes::disabled_at.is_null())
        .select((promo_codes::membership_id, promo_codes::code))
        .load(conn)
        .await?
        .into_iter()
        .collect())
}

/// Every promo code the memberships had, each membership's newest first.
pub async fn promo_code_history(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_ids: &[MembershipId],
) -> DbResult<Vec<PromoCodeRow>> {
    Ok(promo_codes::table
        .filter(
            promo_codes::brand_id
                .eq(brand_id)
                .and(promo_codes::membership_id.eq_any(membership_ids)),
        )
        .order((
            promo_codes::membership_id,
            promo_codes::created_at.desc(),
            promo_codes::id.desc(),
        ))
        .select(PromoCodeRow::as_select())
        .load(conn)
        .await?)
}

/// Every membership of the given offers, for loaders.
pub async fn for_offers(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    offer_ids: &[OfferId],
) -> DbResult<Vec<MembershipRow>> {
    Ok(memberships::table
        .filter(
            memberships::brand_id
                .eq(brand_id)
                .and(memberships::offer_id.eq_any(offer_ids)),
        )
        .select(MembershipRow::as_select())
        .load(conn)
        .await?)
}

/// Marks memberships active or not (removed ones stay removed). Call inside a transaction.
pub async fn set_active(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    ids: &[MembershipId],
    active: bool,
) -> DbResult<Vec<MembershipRow>> {
    Ok(
        diesel::update(memberships::table.filter(memberships::brand_id.eq(brand_id).and(memberships::id.eq_any(ids))))
            .set(memberships::active.eq(active))
            .returning(MembershipRow::as_returning())
            .get_results(conn)
            .await?,
    )
}

/// Removes members from an offer, keeping their history. Already removed ones keep
/// their first removal time. Call inside a transaction.
pub async fn remove(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    offer_id: OfferId,
    member_ids: &[MemberId],
) -> DbResult<Vec<MembershipRow>> {
    Ok(diesel::update(
        memberships::table
            .filter(
                memberships::brand_id
                    .eq(brand_id)
                    .and(memberships::offer_id.eq(offer_id)),
            )
            .filter(memberships::member_id.eq_any(member_ids)),
    )
    .set((
        memberships::active.eq(false),
        memberships::removed_at.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >("COALESCE(removed_at, now())")),
    ))
    .returning(MembershipRow::as_returning())
    .get_results(conn)
    .await?)
}

/// Disables a membership's current promo code and issues `code`. Call inside a transaction.
pub async fn replace_promo_code(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_id: MembershipId,
    code: &str,
) -> DbResult<(Vec<PromoCodeRow>, PromoCodeRow)> {
    let disabled = diesel::update(
        promo_codes::table
            .filter(
                promo_codes::brand_id
                    .eq(brand_id)
                    .and(promo_codes::membership_id.eq(membership_id)),
            )
            .filter(promo_codes::disabled_at.is_null()),
    )
    .set(promo_codes::disabled_at.eq(diesel::dsl::now))
    .returning(PromoCodeRow::as_returning())
    .get_results(conn)
    .await?;
    let issued = diesel::insert_into(promo_codes::table)
        .values((
            promo_codes::brand_id.eq(brand_id),
            promo_codes::membership_id.eq(membership_id),
            promo_codes::code.eq(code),
        ))
        .returning(PromoCodeRow::as_returning())
        .get_result(conn)
        .await?;
    Ok((disabled, issued))
}

/// Sets (or, with `None`, clears) the memberships' own payout rule. Call inside a transaction.
pub async fn set_payout_override(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    ids: &[MembershipId],
    rule: Option<PayoutRule>,
) -> DbResult<Vec<MembershipRow>> {
    let (percent, flat) = rule.map_or((None, None), |r| r.parts());
    Ok(
        diesel::update(memberships::table.filter(memberships::brand_id.eq(brand_id).and(memberships::id.eq_any(ids))))
            .set((
                memberships::payout_type.eq(rule.map(|r| r.payout_type().as_str())),
                memberships::payout_percent.eq(percent),
                memberships::payout_flat.eq(flat),
            ))
            .returning(MembershipRow::as_returning())
            .get_results(conn)
            .await?,
    )
}
