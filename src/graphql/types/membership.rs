use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::conversion::Conversion;
use super::member::Member;
use super::offer::Offer;
use super::payout::PayoutRule;
use crate::app::reads;
use crate::app::records::Balance;
use crate::app::records::Owner;
use crate::app::records::{ClickRow, MembershipRow, PromoCodeRow};
use crate::app::reports::KpiKey;
use crate::domain::date_range::DateRange;
use crate::domain::ids::MembershipId;
use crate::graphql::context::{app, conn, viewer};
use crate::graphql::enums::{ClickUnpaidReason, ConversionStatus};
use crate::graphql::error::{AppError, AppResult};
use crate::graphql::ids::encode;
use crate::graphql::loaders::{
    Balances, Members, MembershipEmails, MembershipRewards, Memberships, Offers, PromoCodeHistory, PromoCodes, load_one,
};
use crate::graphql::pagination::{IdCursor, page_request};
use crate::graphql::reports::{DateRangeInput, KpiBlock, KpiPoint, SeriesInterval, load_kpis, node_series};
use crate::graphql::scalars::Money;

/// A member in an offer, with their own link or promo code; listed in an offer's
/// member table, with that table's date range, which `kpis` defaults to.
pub struct Membership(pub MembershipRow, pub Option<DateRange>);

impl Membership {
    /// The membership with this id, through the request's loader; NOT_FOUND if missing.
    pub async fn load(ctx: &Context<'_>, id: MembershipId) -> AppResult<Membership> {
        load_one::<Memberships>(ctx, id)
            .await?
            .map(|row| Membership(row, None))
            .ok_or(AppError::NotFound("membership"))
    }
}

#[Object]
impl Membership {
    pub async fn id(&self) -> ID {
        encode(self.0.id)
    }

    /// Inactive memberships keep their history but attribute nothing.
    async fn active(&self) -> bool {
        self.0.active && self.0.removed_at.is_none()
    }

    /// The slug of the member's sales link (sales-link offers).
    async fn link_code(&self) -> Option<&str> {
        self.0.link_code.as_deref()
    }

    /// The full link to share: `{public URL}/r/{linkCode}`.
    async fn tracking_url(&self, ctx: &Context<'_>) -> Option<String> {
        let base = app(ctx).public_url();
        self.0
            .link_code
            .as_ref()
            .map(|code| format!("{}/r/{code}", base.trim_end_matches('/')))
    }

    /// Where the current promo code stands in the brand's Shopify store; null
    /// without a code, a connected store, or a shopper discount on the offer.
    async fn promo_code_sync(&self, ctx: &Context<'_>) -> AppResult<Option<crate::graphql::shopify::PromoCodeSync>> {
        let found = load_one::<crate::graphql::loaders::PromoCodeSyncStates>(ctx, self.0.id).await?;
        Ok(found.map(crate::graphql::shopify::PromoCodeSync))
    }

    /// The member's current promo code (promo-code offers). Old codes stay in history and no longer attribute.
    async fn promo_code(&self, ctx: &Context<'_>) -> AppResult<Option<String>> {
        Ok(load_one::<PromoCodes>(ctx, self.0.id).await?.flatten())
    }

    /// Every promo code of this membership, newest first: the current one (no
    /// `disabledAt`) and those replaced, which no longer attribute.
    async fn promo_codes(&self, ctx: &Context<'_>) -> AppResult<Vec<PromoCode>> {
        let rows = load_one::<PromoCodeHistory>(ctx, self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(PromoCode).collect())
    }

    /// The member's own payout, which beats the offer's default; none when the default applies.
    async fn payout_override(&self) -> AppResult<Option<PayoutRule>> {
        let owner = format!("membership {}", self.0.id);
        PayoutRule::from_columns(self.0.payout_type, self.0.payout_percent, self.0.payout_flat, &owner)
    }

    async fn joined_at(&self) -> DateTime<Utc> {
        self.0.joined_at
    }

    /// When the member was removed from the offer; history is kept.
    async fn removed_at(&self) -> Option<DateTime<Utc>> {
        self.0.removed_at
    }

    async fn member(&self, ctx: &Context<'_>) -> AppResult<Member> {
        load_one::<Members>(ctx, self.0.member_id)
            .await?
            .map(Member)
            .ok_or(AppError::NotFound("member"))
    }

    async fn offer(&self, ctx: &Context<'_>) -> AppResult<Offer> {
        let today = viewer(ctx)?.today();
        load_one::<Offers>(ctx, self.0.offer_id)
            .await?
            .map(|row| Offer::new(row, today))
            .ok_or(AppError::NotFound("offer"))
    }

    /// The membership's KPIs for `dateRange` (default: the member table's range when
    /// listed in one, else the last 6 months).
    async fn kpis(&self, ctx: &Context<'_>, date_range: Option<DateRangeInput>) -> AppResult<KpiBlock> {
        let range = match (&date_range, self.1) {
            (None, Some(listed)) => listed,
            _ => DateRangeInput::resolve(date_range.as_ref(), viewer(ctx)?)?,
        };
        Ok(KpiBlock::new(
            range,
            load_kpis(ctx, KpiKey::Membership(self.0.id, range)).await?,
        ))
    }

    /// The membership's KPIs per day, week or month, for charts.
    async fn kpi_series(
        &self,
        ctx: &Context<'_>,
        date_range: Option<DateRangeInput>,
        #[graphql(default_with = "SeriesInterval::Day")] interval: SeriesInterval,
    ) -> AppResult<Vec<KpiPoint>> {
        let range = DateRangeInput::resolve(date_range.as_ref(), viewer(ctx)?)?;
        node_series(ctx, KpiKey::Membership(self.0.id, range), interval).await
    }

    /// Commission owed to this membership, from its ledger.
    async fn balance(&self, ctx: &Context<'_>) -> AppResult<LedgerBalance> {
        let balance = load_one::<Balances>(ctx, self.0.id)
            .await?
            .unwrap_or_else(|| Balance::empty(self.0.id));
        Ok(LedgerBalance {
            earned: Money(balance.earned),
            reversed: Money(balance.reversed),
            paid: Money(balance.paid),
            due: Money(balance.due),
            on_hold: Money(balance.on_hold),
        })
    }

    /// Emails sent to the member about this membership, newest first, with their send logs.
    async fn emails(&self, ctx: &Context<'_>) -> AppResult<Vec<super::email::Email>> {
        let rows = load_one::<MembershipEmails>(ctx, self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(super::email::Email).collect())
    }

    /// Rewards granted to this membership, newest first.
    async fn rewards(&self, ctx: &Context<'_>) -> AppResult<Vec<super::reward::Reward>> {
        let rows = load_one::<MembershipRewards>(ctx, self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(super::reward::Reward).collect())
    }

    /// The membership's orders, newest first.
    async fn conversions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<ConversionStatus>,
    ) -> AppResult<Connection<IdCursor, Conversion>> {
        let viewer = viewer(ctx)?;
        let owner = Owner::Membership(self.0.id);
        Conversion::connection(ctx, viewer, owner, first, after, status).await
    }

    /// Stored clicks on the member's link, newest first, bots included and flagged.
    async fn clicks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Connection<String, Click>> {
        let viewer = viewer(ctx)?;
        let request = page_request(first, None)?;
        let before = after
            .map(|cursor| {
                uuid::Uuid::parse_str(&cursor)
                    .map_err(|_| AppError::bad_input("after is not a cursor this list gave out"))
            })
            .transpose()?;
        let had_cursor = before.is_some();
        let page = reads::clicks(&mut *conn(ctx).await?, viewer, self.0.id, before, request.limit).await?;
        let mut connection = Connection::new(had_cursor, page.has_next_page);
        connection.edges = page
            .rows
            .into_iter()
            .map(|row| async_graphql::connection::Edge::new(row.id.to_string(), Click(row)))
            .collect();
        Ok(connection)
    }
}

/// A membership's commission account. `earned − reversed − paid = due + onHold`.
#[derive(SimpleObject)]
pub struct LedgerBalance {
    /// Commission earned: conversions (less refunds made before payment), paid clicks, cash rewards.
    pub earned: Money,
    /// Taken back after payment by refunds and rejections.
    pub reversed: Money,
    /// Paid out.
    pub paid: Money,
    /// Unpaid and past the hold period, net of clawbacks; negative means owed back and netted next time.
    pub due: Money,
    /// Unpaid and still within the hold period.
    pub on_hold: Money,
}

/// One redirect through a member's sales link.
pub struct Click(pub ClickRow);

#[Object]
impl Click {
    /// The click id appended to the destination (`st_click`), which orders carry back.
    pub async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn clicked_at(&self) -> DateTime<Utc> {
        self.0.clicked_at
    }

    async fn user_agent(&self) -> &str {
        &self.0.user_agent
    }

    /// Bots are stored but never counted.
    async fn is_bot(&self) -> bool {
        self.0.is_bot
    }

    /// The per-click commission it earned (zero when it earned none).
    async fn commission(&self) -> Money {
        Money(self.0.commission)
    }

    /// Why it earned no per-click commission: a bot, a repeat of the same visitor
    /// within the repeat window, or a payout that is not per click. None: it earned.
    async fn unpaid_reason(&self) -> Option<ClickUnpaidReason> {
        self.0.unpaid_reason.map(Into::into)
    }
}

/// A promo code a membership had.
pub struct PromoCode(PromoCodeRow);

#[Object]
impl PromoCode {
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// When it was issued.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it was replaced; null for the current code.
    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.0.disabled_at
    }
}
