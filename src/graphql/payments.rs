//! Send Payment, its preview and the payment history.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::Utc;
use rust_decimal::Decimal;

use super::context::{AdminOnly, app, conn, report_conn, viewer};
use super::error::{AppError, AppResult};
use super::ids::{decode, decode_list};
use super::pagination::{IdCursor, page_request, to_connection};
use super::reports::{DateRangeInput, OfferFilter};
use super::scalars::Money;
use super::types::payment::{DueItem, Payment, PaymentLeftOut, PaymentPreview};
use crate::app::payments::{self, Payees};
use crate::app::reads;
use crate::domain::ids::{MembershipId, OfferId, PaymentId};
use crate::graphql::enums::{PaymentProvider, PaymentScope};

/// Which memberships to pay: `offerId` with `OFFER`, `membershipIds` with
/// `MEMBERSHIPS`; with `ACTIVE_OFFERS`, the home page's `filter` and `dateRange`
/// when one is set (the range matters only to the filter's KPI ranges).
#[derive(InputObject)]
pub struct SendPaymentInput {
    pub scope: PaymentScope,
    pub offer_id: Option<ID>,
    pub membership_ids: Option<Vec<ID>>,
    pub filter: Option<OfferFilter>,
    pub date_range: Option<DateRangeInput>,
    /// Who pays: `MANUAL` (default; the brand pays outside with the payout files) or
    /// `PAYPAL` (PayPal Payouts, when the server is configured for it).
    #[graphql(default_with = "PaymentProvider::Manual")]
    pub provider: PaymentProvider,
    /// Any string unique to this intent (1 to 200 characters). Sending the same key
    /// again returns the first payment and pays nothing more.
    pub idempotency_key: String,
}

/// The result of `sendPayment`.
#[derive(SimpleObject)]
pub struct SendPaymentPayload {
    pub payment: Payment,
    /// True when an earlier request with the same key made this payment.
    pub replayed: bool,
    /// Memberships owed money this payment could not carry (their amounts stay
    /// due), each with why; empty for a replay.
    pub left_out: Vec<PaymentLeftOut>,
}

/// Whom a payment (or its preview) pays.
struct PayeeArgs<'a> {
    scope: PaymentScope,
    offer_id: Option<&'a ID>,
    membership_ids: Option<&'a [ID]>,
    filter: Option<&'a OfferFilter>,
    date_range: Option<&'a DateRangeInput>,
}

/// The payees a scope's arguments name.
async fn payees_of(ctx: &Context<'_>, args: PayeeArgs<'_>) -> AppResult<Payees> {
    let caller = viewer(ctx)?;
    let offer_id = args.offer_id.map(decode::<OfferId>).transpose()?;
    let membership_ids = args.membership_ids.map(decode_list::<MembershipId>).transpose()?;
    let filtered = args.filter.is_some() || args.date_range.is_some();
    match args.scope {
        PaymentScope::ActiveOffers if offer_id.is_none() && membership_ids.is_none() => {
            let range = DateRangeInput::resolve(args.date_range, caller)?;
            let selection = args.filter.cloned().unwrap_or_default().selection(None)?;
            Payees::active_offers(
                &mut *conn(ctx).await?,
                &mut *report_conn(ctx).await?,
                caller,
                &selection,
                range,
            )
            .await
        }
        _ if filtered && args.scope != PaymentScope::ActiveOffers => {
            Err(AppError::bad_input("filter and dateRange go with ACTIVE_OFFERS only"))
        }
        scope => {
            Payees::resolve(
                &mut *conn(ctx).await?,
                caller.brand_id,
                scope.into(),
                offer_id,
                membership_ids,
            )
            .await
        }
    }
}

#[derive(Default)]
pub struct PaymentMutations;

#[Object]
impl PaymentMutations {
    /// Pays every membership in scope what is due (past the hold period, net of
    /// clawbacks, positive only): one payment, one item per membership, through the
    /// chosen provider. `ACTIVE_OFFERS` pays what the home page's Payments Due shows.
    /// Exactly once per `idempotencyKey`, and no ledger entry is ever paid twice,
    /// whatever runs at the same moment. `CONFLICT` when nothing is due. With
    /// `PAYPAL` the payment is `PROCESSING` (never an error) until PayPal reports
    /// every item; sending the same key again asks PayPal and returns it as it is then.
    #[graphql(guard = "AdminOnly")]
    async fn send_payment(&self, ctx: &Context<'_>, input: SendPaymentInput) -> AppResult<SendPaymentPayload> {
        let payees = payees_of(
            ctx,
            PayeeArgs {
                scope: input.scope,
                offer_id: input.offer_id.as_ref(),
                membership_ids: input.membership_ids.as_deref(),
                filter: input.filter.as_ref(),
                date_range: input.date_range.as_ref(),
            },
        )
        .await?;
        let sent = payments::send(
            app(ctx),
            input.provider.into(),
            *viewer(ctx)?,
            payees,
            &input.idempotency_key,
            Utc::now(),
        )
        .await?;
        Ok(SendPaymentPayload {
            payment: Payment(sent.payment),
            replayed: sent.replayed,
            left_out: sent.left_out.into_iter().map(PaymentLeftOut::from).collect(),
        })
    }
}

#[derive(Default)]
pub struct PaymentQueries;

#[Object]
impl PaymentQueries {
    /// What `sendPayment` would pay now for this scope, to show before confirming.
    async fn payment_preview(
        &self,
        ctx: &Context<'_>,
        scope: PaymentScope,
        offer_id: Option<ID>,
        membership_ids: Option<Vec<ID>>,
        filter: Option<OfferFilter>,
        date_range: Option<DateRangeInput>,
    ) -> AppResult<PaymentPreview> {
        let args = PayeeArgs {
            scope,
            offer_id: offer_id.as_ref(),
            membership_ids: membership_ids.as_deref(),
            filter: filter.as_ref(),
            date_range: date_range.as_ref(),
        };
        let payees = payees_of(ctx, args).await?;
        let caller = viewer(ctx)?;
        let (payouts, left_out) = payments::preview(&mut *conn(ctx).await?, caller, &payees, Utc::now()).await?;
        Ok(PaymentPreview {
            total_amount: Money(payouts.iter().map(|payout| payout.due.amount).sum::<Decimal>()),
            item_count: payouts.len() as i32,
            items: payouts.into_iter().map(DueItem).collect(),
            left_out: left_out.into_iter().map(PaymentLeftOut::from).collect(),
        })
    }

    /// Payments, newest first.
    async fn payments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Connection<IdCursor, Payment>> {
        let viewer = viewer(ctx)?;
        let had_cursor = after.is_some();
        let request = page_request(first, after)?;
        let page = reads::payments(&mut *conn(ctx).await?, viewer, request).await?;
        Ok(to_connection(page, had_cursor, EmptyFields, |row| row.id, Payment))
    }

    async fn payment(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Payment>> {
        let viewer = viewer(ctx)?;
        let id = decode::<PaymentId>(&id)?;
        Ok(reads::payment(&mut *conn(ctx).await?, viewer, id).await?.map(Payment))
    }
}
