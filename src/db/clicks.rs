//! Clicks as stored, written a batch at a time (`app::clicks::store_batch`).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Numeric, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::DbResult;
use super::cached::cached_statement;
use super::models::ClickRow;
use super::pagination::Page;
use super::schema::clicks;
use crate::domain::enums::{ClickUnpaidReason, PayoutType};
use crate::domain::ids::{BrandId, MembershipId};

/// A click as the redirect saw it. Its id is made by the server, so storing the
/// same click twice (a late batch and a spool replay) stores and counts it once.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NewClick {
    pub brand_id: BrandId,
    pub membership_id: MembershipId,
    pub id: Uuid,
    pub clicked_at: DateTime<Utc>,
    pub ip_hash: Option<Vec<u8>>,
    pub user_agent: String,
    pub is_bot: bool,
}

/// Whether a membership counts clicks right now, and what a click pays.
#[derive(QueryableByName)]
pub struct ClickTerms {
    #[diesel(sql_type = BigInt)]
    pub brand_id: BrandId,
    #[diesel(sql_type = BigInt)]
    pub membership_id: MembershipId,
    #[diesel(sql_type = Bool)]
    pub countable: bool,
    #[diesel(sql_type = Text)]
    pub payout_type: PayoutType,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub payout_flat: Option<Decimal>,
    #[diesel(sql_type = Integer)]
    pub hold_period_days: i32,
    #[diesel(sql_type = Text)]
    pub time_zone: String,
    #[diesel(sql_type = Text)]
    pub currency: String,
}

// A click's terms, written once for both statements that read them (over `m`
// memberships, `o` offers, `b` brands): whether the membership counts clicks
// today in the brand's zone, and its payout (the membership's own, else the offer's).
macro_rules! click_countable_sql {
    () => {
        "(m.active AND m.removed_at IS NULL AND o.status = 'ACTIVE'
          AND o.starts_on <= (now() AT TIME ZONE b.time_zone)::date
          AND (o.ends_on IS NULL OR o.ends_on >= (now() AT TIME ZONE b.time_zone)::date))"
    };
}
macro_rules! payout_type_sql {
    () => {
        "COALESCE(m.payout_type, o.payout_type)"
    };
}
macro_rules! payout_flat_sql {
    () => {
        "(CASE WHEN m.payout_type IS NULL THEN o.payout_flat ELSE m.payout_flat END)"
    };
}

/// The terms of each (brand, membership), by key.
pub async fn terms(
    conn: &mut AsyncPgConnection,
    keys: &[(BrandId, MembershipId)],
) -> DbResult<HashMap<(BrandId, MembershipId), ClickTerms>> {
    let (brand_ids, membership_ids): (Vec<BrandId>, Vec<MembershipId>) = keys.iter().copied().unzip();
    let rows: Vec<ClickTerms> = diesel::sql_query(concat!(
        "SELECT m.brand_id, m.id AS membership_id, ",
        click_countable_sql!(),
        " AS countable, ",
        payout_type_sql!(),
        " AS payout_type, ",
        payout_flat_sql!(),
        " AS payout_flat,
                o.hold_period_days, b.time_zone, b.currency
         FROM unnest($1::bigint[], $2::bigint[]) AS k(brand_id, membership_id)
         JOIN memberships m ON m.brand_id = k.brand_id AND m.id = k.membership_id
         JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
         JOIN brands b ON b.id = m.brand_id"
    ))
    .bind::<Array<BigInt>, _>(&brand_ids)
    .bind::<Array<BigInt>, _>(&membership_ids)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|t| ((t.brand_id, t.membership_id), t)).collect())
}

/// A batch as one array per column: the insert is then 9 parameters whatever its
/// size, which is far cheaper to send, parse and plan than 9 per row.
#[derive(Default)]
pub struct ClickColumns {
    brand_ids: Vec<BrandId>,
    ids: Vec<Uuid>,
    membership_ids: Vec<MembershipId>,
    clicked_at: Vec<DateTime<Utc>>,
    ip_hashes: Vec<Option<Vec<u8>>>,
    user_agents: Vec<String>,
    bots: Vec<bool>,
    commissions: Vec<Decimal>,
    unpaid_reasons: Vec<Option<ClickUnpaidReason>>,
}

impl ClickColumns {
    /// Adds a click with what it earned, or why it earned nothing.
    pub fn push(&mut self, click: NewClick, earned: Result<Decimal, ClickUnpaidReason>) {
        let (commission, reason) = match earned {
            Ok(commission) => (commission, None),
            Err(reason) => (Decimal::ZERO, Some(reason)),
        };
        self.commissions.push(commission);
        self.unpaid_reasons.push(reason);
        self.brand_ids.push(click.brand_id);
        self.ids.push(click.id);
        self.membership_ids.push(click.membership_id);
        self.clicked_at.push(click.clicked_at);
        self.ip_hashes.push(click.ip_hash);
        self.user_agents.push(click.user_agent);
        self.bots.push(click.is_bot);
    }

    /// Inserts the clicks not stored yet and returns their ids.
    pub async fn insert(self, conn: &mut AsyncPgConnection) -> DbResult<HashSet<Uuid>> {
        if self.ids.is_empty() {
            return Ok(HashSet::new());
        }
        #[derive(QueryableByName)]
        struct Inserted {
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            id: Uuid,
        }
        let inserted: Vec<Inserted> = diesel::sql_query(
            "INSERT INTO clicks (brand_id, id, membership_id, clicked_at, ip_hash, user_agent, is_bot, commission, unpaid_reason)
             SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::timestamptz[], $5::bytea[], $6::text[], $7::boolean[],
                                  $8::numeric[], $9::text[])
             ON CONFLICT (brand_id, id, clicked_at) DO NOTHING
             RETURNING id",
        )
        .bind::<Array<BigInt>, _>(self.brand_ids)
        .bind::<Array<diesel::sql_types::Uuid>, _>(self.ids)
        .bind::<Array<BigInt>, _>(self.membership_ids)
        .bind::<Array<diesel::sql_types::Timestamptz>, _>(self.clicked_at)
        .bind::<Array<Nullable<diesel::sql_types::Bytea>>, _>(self.ip_hashes)
        .bind::<Array<Text>, _>(self.user_agents)
        .bind::<Array<Bool>, _>(self.bots)
        .bind::<Array<Numeric>, _>(self.commissions)
        .bind::<Array<Nullable<Text>>, _>(self.unpaid_reasons)
        .load(conn)
        .await?;
        Ok(inserted.into_iter().map(|row| row.id).collect())
    }
}

/// What [`store_unpaid`] did with a batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UnpaidStored {
    /// Stored now, not bots: counted in the rollups.
    pub counted: usize,
    /// Stored now, flagged as bots.
    pub bots: usize,
    /// Stored before (a replay): nothing changed.
    pub duplicates: usize,
    /// Not stored: no running membership.
    pub ignored: usize,
    /// Running memberships that pay per click: their clicks were left for
    /// the batch path, which claims visitors and books commission.
    pub paying_per_click: Vec<(BrandId, MembershipId)>,
}

/// When a batch's clicks reach the daily rollups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rollups {
    /// Upserted with the clicks.
    Now,
    /// Added to `click_tallies`, for [`fold_tallies`] to carry into the rollups:
    /// an insert that takes no lock another batch could be waiting on.
    Tallied,
}

/// Stores the clicks of a batch that earn nothing per click, with their daily
/// counts (see [`Rollups`]), in one statement (its own transaction when called
/// outside one): the terms are read, the clicks inserted and the counts written
/// in a single round trip. Clicks on memberships that pay per click are left
/// alone and named in the answer.
pub async fn store_unpaid(
    conn: &mut AsyncPgConnection,
    batch: &[NewClick],
    rollups: Rollups,
) -> DbResult<UnpaidStored> {
    #[derive(QueryableByName)]
    struct Stored {
        #[diesel(sql_type = BigInt)]
        counted: i64,
        #[diesel(sql_type = BigInt)]
        bots: i64,
        #[diesel(sql_type = BigInt)]
        taken: i64,
        #[diesel(sql_type = BigInt)]
        ignored: i64,
        #[diesel(sql_type = Array<BigInt>)]
        per_click_brands: Vec<BrandId>,
        #[diesel(sql_type = Array<BigInt>)]
        per_click_memberships: Vec<MembershipId>,
    }
    if batch.is_empty() {
        return Ok(UnpaidStored::default());
    }
    let stored: Stored = match rollups {
        Rollups::Now => StoreUnpaidClicks::new(batch).get_result(conn).await?,
        Rollups::Tallied => TallyUnpaidClicks::new(batch).get_result(conn).await?,
    };
    let stored_now = (stored.counted + stored.bots) as usize;
    Ok(UnpaidStored {
        counted: stored.counted as usize,
        bots: stored.bots as usize,
        duplicates: (stored.taken as usize).saturating_sub(stored_now),
        ignored: stored.ignored as usize,
        paying_per_click: stored
            .per_click_brands
            .into_iter()
            .zip(stored.per_click_memberships)
            .collect(),
    })
}

/// Carries every click tally into the daily rollups (whose triggers carry them
/// further up), deleting each in the same statement, so that each counts once;
/// tallies another connection is folding meanwhile are left to it. Returns the
/// brands whose counts moved.
pub async fn fold_tallies(conn: &mut AsyncPgConnection) -> DbResult<Vec<BrandId>> {
    #[derive(QueryableByName)]
    struct Folded {
        #[diesel(sql_type = Array<BigInt>)]
        brands: Vec<BrandId>,
    }
    // Not on a redirect's path: folds run when the writer falls idle, or every so often.
    let folded: Folded = diesel::sql_query(
        "WITH folded AS (
             DELETE FROM click_tallies
             WHERE ctid = ANY(ARRAY(SELECT ctid FROM click_tallies FOR UPDATE SKIP LOCKED))
             RETURNING brand_id, membership_id, day, clicks),
         rolled_up AS (
             INSERT INTO membership_daily_stats AS s (brand_id, membership_id, day, clicks, conversions, sales, commission)
             SELECT brand_id, membership_id, day, SUM(clicks), 0, 0, 0
             FROM folded GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
             ON CONFLICT (brand_id, membership_id, day) DO UPDATE SET clicks = s.clicks + EXCLUDED.clicks)
         SELECT ARRAY(SELECT DISTINCT brand_id FROM folded ORDER BY 1) AS brands",
    )
    .get_result(conn)
    .await?;
    Ok(folded.brands)
}

// The statement of [`store_unpaid`], around where its counts go: the batch, the
// terms of its memberships, the clicks kept and inserted...
macro_rules! store_unpaid_clicks_head {
    () => {
        concat!(
            "
    WITH batch AS (
        SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::timestamptz[], $5::bytea[], $6::text[], $7::boolean[])
            AS k(brand_id, id, membership_id, clicked_at, ip_hash, user_agent, is_bot)),
    terms AS (
        SELECT m.brand_id, m.id AS membership_id, b.time_zone, ",
            click_countable_sql!(),
            " AS countable, (",
            payout_type_sql!(),
            " = 'FLAT_PER_CLICK' AND COALESCE(",
            payout_flat_sql!(),
            ", 0) > 0) AS per_click
        FROM (SELECT DISTINCT brand_id, membership_id FROM batch) k
        JOIN memberships m ON m.brand_id = k.brand_id AND m.id = k.membership_id
        JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
        JOIN brands b ON b.id = m.brand_id),
    taken AS (
        SELECT k.*, t.time_zone FROM batch k JOIN terms t USING (brand_id, membership_id)
        WHERE t.countable AND NOT t.per_click),
    stored AS (
        INSERT INTO clicks (brand_id, id, membership_id, clicked_at, ip_hash, user_agent, is_bot, commission, unpaid_reason)
        SELECT brand_id, id, membership_id, clicked_at, ip_hash, user_agent, is_bot, 0,
               CASE WHEN is_bot THEN 'BOT' ELSE 'NO_PER_CLICK_PAYOUT' END
        FROM taken
        ON CONFLICT (brand_id, id, clicked_at) DO NOTHING
        RETURNING brand_id, membership_id, clicked_at, is_bot),"
        )
    };
}

// ...and what became of the batch.
macro_rules! store_unpaid_clicks_tail {
    () => {
        "
    SELECT (SELECT count(*) FROM stored WHERE NOT is_bot) AS counted,
           (SELECT count(*) FROM stored WHERE is_bot) AS bots,
           (SELECT count(*) FROM taken) AS taken,
           (SELECT count(*) FROM batch k LEFT JOIN terms t USING (brand_id, membership_id)
            WHERE t.countable IS NOT TRUE) AS ignored,
           ARRAY(SELECT brand_id FROM terms WHERE countable AND per_click ORDER BY 1, membership_id) AS per_click_brands,
           ARRAY(SELECT membership_id FROM terms WHERE countable AND per_click ORDER BY brand_id, 1) AS per_click_memberships"
    };
}

/// The two ways of storing a batch differ only in where the counts go.
macro_rules! unpaid_clicks_statement {
    ($(#[$meta:meta])* $name:ident = $counts:expr) => {
        cached_statement! {
            $(#[$meta])*
            struct $name<'a> = concat!(store_unpaid_clicks_head!(), $counts, store_unpaid_clicks_tail!()); {
                brand_ids: Array<BigInt> => Vec<BrandId>,
                ids: Array<diesel::sql_types::Uuid> => Vec<Uuid>,
                membership_ids: Array<BigInt> => Vec<MembershipId>,
                clicked_at: Array<diesel::sql_types::Timestamptz> => Vec<DateTime<Utc>>,
                ip_hashes: Array<Nullable<diesel::sql_types::Bytea>> => Vec<Option<&'a [u8]>>,
                user_agents: Array<Text> => Vec<&'a str>,
                bots: Array<Bool> => Vec<bool>,
            }
        }

        impl<'a> $name<'a> {
            fn new(batch: &'a [NewClick]) -> Self {
                $name {
                    brand_ids: batch.iter().map(|c| c.brand_id).collect(),
                    ids: batch.iter().map(|c| c.id).collect(),
                    membership_ids: batch.iter().map(|c| c.membership_id).collect(),
                    clicked_at: batch.iter().map(|c| c.clicked_at).collect(),
                    ip_hashes: batch.iter().map(|c| c.ip_hash.as_deref()).collect(),
                    user_agents: batch.iter().map(|c| c.user_agent.as_str()).collect(),
                    bots: batch.iter().map(|c| c.is_bot).collect(),
                }
            }
        }
    };
}

unpaid_clicks_statement! {
    /// [`store_unpaid`] with [`Rollups::Now`]: a redirect's whole database cost.
    StoreUnpaidClicks = "
    rolled_up AS (
        INSERT INTO membership_daily_stats AS s (brand_id, membership_id, day, clicks, conversions, sales, commission)
        SELECT c.brand_id, c.membership_id, (c.clicked_at AT TIME ZONE t.time_zone)::date, count(*), 0, 0, 0
        FROM stored c JOIN terms t USING (brand_id, membership_id)
        WHERE NOT c.is_bot
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (brand_id, membership_id, day) DO UPDATE SET clicks = s.clicks + EXCLUDED.clicks)"
}

unpaid_clicks_statement! {
    /// [`store_unpaid`] with [`Rollups::Tallied`].
    TallyUnpaidClicks = "
    tallied AS (
        INSERT INTO click_tallies (brand_id, membership_id, day, clicks)
        SELECT c.brand_id, c.membership_id, (c.clicked_at AT TIME ZONE t.time_zone)::date, count(*)
        FROM stored c JOIN terms t USING (brand_id, membership_id)
        WHERE NOT c.is_bot
        GROUP BY 1, 2, 3)"
}
/// A visitor who may earn a click's commission, if not paid within the window.
pub struct VisitorClaim {
    pub brand_id: BrandId,
    pub membership_id: MembershipId,
    pub visitor: Vec<u8>,
    pub clicked_at: DateTime<Utc>,
}

/// Records each visitor's click as paid unless the visitor was paid for one on
/// the same link within `window` before it; returns the positions of the claims
/// granted. One claim per visitor and link. Atomic per visitor, so servers
/// storing clicks at once cannot both pay the same visitor.
pub async fn claim_visitors(
    conn: &mut AsyncPgConnection,
    claims: &[VisitorClaim],
    window: chrono::Duration,
) -> DbResult<Vec<usize>> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(QueryableByName)]
    struct Granted {
        #[diesel(sql_type = BigInt)]
        position: i64,
    }
    let granted: Vec<Granted> = diesel::sql_query(
        "WITH claim AS (
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::timestamptz[])
                 WITH ORDINALITY AS c(brand_id, membership_id, visitor, clicked_at, position)),
         granted AS (
             INSERT INTO click_visitors (brand_id, membership_id, visitor, last_paid_at)
             SELECT brand_id, membership_id, visitor, clicked_at FROM claim
             ON CONFLICT (brand_id, membership_id, visitor) DO UPDATE SET last_paid_at = EXCLUDED.last_paid_at
                 WHERE click_visitors.last_paid_at <= EXCLUDED.last_paid_at - $5::interval
             RETURNING brand_id, membership_id, visitor)
         SELECT (c.position - 1)::bigint AS position FROM claim c
         JOIN granted g USING (brand_id, membership_id, visitor)",
    )
    .bind::<Array<BigInt>, _>(claims.iter().map(|c| c.brand_id).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(claims.iter().map(|c| c.membership_id).collect::<Vec<_>>())
    .bind::<Array<diesel::sql_types::Bytea>, _>(claims.iter().map(|c| c.visitor.clone()).collect::<Vec<_>>())
    .bind::<Array<diesel::sql_types::Timestamptz>, _>(claims.iter().map(|c| c.clicked_at).collect::<Vec<_>>())
    .bind::<diesel::sql_types::Interval, _>(diesel::pg::data_types::PgInterval::from_microseconds(
        window.num_microseconds().unwrap_or(i64::MAX),
    ))
    .load(conn)
    .await?;
    Ok(granted.into_iter().map(|g| g.position as usize).collect())
}

/// Marks stored clicks as having earned `commission` each.
pub async fn mark_paid(conn: &mut AsyncPgConnection, paid: &[(BrandId, Uuid, Decimal)]) -> DbResult<()> {
    if paid.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "UPDATE clicks c SET commission = p.commission, unpaid_reason = NULL
         FROM unnest($1::bigint[], $2::uuid[], $3::numeric[]) AS p(brand_id, id, commission)
         WHERE c.brand_id = p.brand_id AND c.id = p.id",
    )
    .bind::<Array<BigInt>, _>(paid.iter().map(|p| p.0).collect::<Vec<_>>())
    .bind::<Array<diesel::sql_types::Uuid>, _>(paid.iter().map(|p| p.1).collect::<Vec<_>>())
    .bind::<Array<Numeric>, _>(paid.iter().map(|p| p.2).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// The first instant of `at`'s month, in UTC: clicks are partitioned by UTC month.
fn month_start(at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{Datelike, TimeZone};
    Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(at)
}

fn next_month(start: DateTime<Utc>) -> DateTime<Utc> {
    start.checked_add_months(chrono::Months::new(1)).unwrap_or(start)
}

fn partition_name(month: DateTime<Utc>) -> String {
    format!("clicks_{}", month.format("%Y_%m"))
}

#[derive(QueryableByName)]
struct Partition {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The monthly partitions of `clicks` (not the default one), oldest first.
pub async fn month_partitions(conn: &mut AsyncPgConnection) -> DbResult<Vec<String>> {
    let rows: Vec<Partition> = diesel::sql_query(
        "SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'clicks'::regclass AND c.relname ~ '^clicks_[0-9]{4}_[0-9]{2}$' ORDER BY 1",
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|p| p.name).collect())
}

/// Creates the month partitions from `from`'s month to `months_ahead` months past
/// `now`'s, those missing. A month whose clicks already sit in the default partition
/// is left there (creating it would fail); returns the months made.
pub async fn ensure_partitions(
    conn: &mut AsyncPgConnection,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
    months_ahead: u32,
) -> DbResult<Vec<String>> {
    let existing = month_partitions(conn).await?;
    let last = now
        .checked_add_months(chrono::Months::new(months_ahead))
        .map_or(now, month_start);
    let mut month = month_start(from.min(now));
    let mut made = Vec::new();
    while month <= last {
        let name = partition_name(month);
        let end = next_month(month);
        if !existing.contains(&name) {
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {name} PARTITION OF clicks FOR VALUES FROM ('{}') TO ('{}')",
                month.to_rfc3339(),
                end.to_rfc3339()
            );
            match diesel::sql_query(sql).execute(conn).await {
                Ok(_) => made.push(name),
                Err(error) => {
                    tracing::warn!(%error, partition = %name, "click partition not created; its clicks stay in clicks_default")
                }
            }
        }
        month = end;
    }
    Ok(made)
}

/// Drops the raw clicks of months wholly before `keep_months` months ago (whole
/// partitions, and the default partition's rows), and records where raw clicks now
/// start. The rollups keep every figure. Returns the partitions dropped.
pub async fn apply_retention(
    conn: &mut AsyncPgConnection,
    keep_months: u32,
    now: DateTime<Utc>,
) -> DbResult<Vec<String>> {
    let Some(cutoff) = month_start(now).checked_sub_months(chrono::Months::new(keep_months)) else {
        return Ok(Vec::new());
    };
    let mut dropped = Vec::new();
    for name in month_partitions(conn).await? {
        // Names sort as dates; a month ends where the next begins.
        if name < partition_name(cutoff) {
            diesel::sql_query(format!("DROP TABLE IF EXISTS {name}"))
                .execute(conn)
                .await?;
            dropped.push(name);
        }
    }
    diesel::sql_query("DELETE FROM clicks_default WHERE clicked_at < $1")
        .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
        .execute(conn)
        .await?;
    diesel::sql_query("UPDATE click_retention SET kept_since = greatest(kept_since, $1)")
        .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
        .execute(conn)
        .await?;
    Ok(dropped)
}

/// A membership's stored clicks, newest first (UUIDv7 ids sort by time).
pub async fn page_for_membership(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_id: MembershipId,
    before: Option<Uuid>,
    limit: i64,
) -> DbResult<Page<ClickRow>> {
    let mut query = clicks::table
        .filter(
            clicks::brand_id
                .eq(brand_id)
                .and(clicks::membership_id.eq(membership_id)),
        )
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(clicks::id.lt(before));
    }
    let rows = query
        .order(clicks::id.desc())
        .limit(limit + 1)
        .select(ClickRow::as_select())
        .load(conn)
        .await?;
    Ok(Page::from_overfetched(rows, limit))
}
