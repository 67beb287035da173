//! Lifecycle events for brands' webhooks: each is written in the transaction of
//! the change it reports (`publish`), so a rolled-back change sends nothing and a
//! committed one is always sent. The object is shown as GraphQL shows it: public
//! ids, camelCase fields, money as strings.

use chrono::Utc;
use diesel_async::AsyncPgConnection;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::db::DbResult;
use crate::db::ledger::NewLedgerEntry;
use crate::db::models::{ConversionRow, MembershipRow, OfferRow, PromoCodeRow};
use crate::db::payments::{PaymentItemRow, PaymentRow};
use crate::db::rewards::RewardRow;
use crate::db::webhooks::{self, NewEvent};
use crate::domain::enums::{LedgerKind, OfferStatus, PayoutType};
use crate::domain::ids::{BrandId, ConversionId, MembershipId};
use crate::domain::money::format_money;
use crate::domain::webhooks::EventType;

/// One change to report.
#[derive(Clone, Debug)]
pub struct Event {
    pub brand_id: BrandId,
    pub event_type: EventType,
    /// The public id of the object: deliveries keep their order per object.
    pub object_id: String,
    pub data: Value,
}

/// Writes `events` (in order) for the endpoints subscribed to them; call inside
/// the change's transaction. The statement is sent at once, so it can share a
/// round trip with the change's last statements.
pub fn publish(
    conn: &mut AsyncPgConnection,
    events: Vec<Event>,
) -> impl Future<Output = DbResult<()>> + Send + 'static {
    let now = Utc::now();
    let rows: Vec<NewEvent> = events
        .into_iter()
        .map(|event| {
            let id = uuid::Uuid::now_v7();
            NewEvent {
                brand_id: event.brand_id,
                id,
                event_type: event.event_type.as_str(),
                object_id: event.object_id,
                payload: json!({
                    "id": super::webhooks::event_id(id),
                    "type": event.event_type.as_str(),
                    "createdAt": now,
                    "data": event.data,
                })
                .to_string(),
            }
        })
        .collect();
    let statement = (!rows.is_empty()).then(|| webhooks::publish(conn, rows));
    async move {
        if let Some(statement) = statement {
            statement.await?;
        }
        Ok(())
    }
}

fn money(amount: Decimal) -> Value {
    Value::String(format_money(amount))
}

fn optional_money(amount: Option<Decimal>) -> Value {
    amount.map_or(Value::Null, money)
}

fn payout_rule(payout_type: Option<PayoutType>, percent: Option<Decimal>, flat: Option<Decimal>) -> Value {
    match payout_type {
        None => Value::Null,
        Some(t) => json!({
            "type": t.as_str(),
            "percent": percent.map(|p| p.normalize().to_string()),
            "flatAmount": optional_money(flat),
        }),
    }
}

pub fn conversion(row: &ConversionRow, event_type: EventType) -> Event {
    Event {
        brand_id: row.brand_id,
        event_type,
        object_id: row.id.to_string(),
        data: json!({
            "id": row.id.to_string(),
            "status": row.status.as_str(),
            "source": row.source,
            "externalOrderId": row.external_order_id,
            "membershipId": row.membership_id.map(|m| m.to_string()),
            "occurredAt": row.occurred_at,
            "currency": row.currency,
            "originalSaleAmount": money(row.original_sale_amount),
            "saleAmount": money(row.sale_amount),
            "commission": money(row.commission),
            "attribution": row.attribution.map(|a| a.as_str()),
            "clickId": row.click_id,
            "promoCode": row.promo_code,
            "rejectionReason": row.rejection_reason,
            "payoutRule": payout_rule(row.payout_type, row.payout_percent, row.payout_flat),
        }),
    }
}

/// A conversion's commission booked for its membership (none for a zero commission).
pub fn commission_created(row: &ConversionRow, entry: &NewLedgerEntry) -> Option<Event> {
    (!entry.amount.is_zero()).then(|| Event {
        brand_id: row.brand_id,
        event_type: EventType::CommissionCreated,
        object_id: row.id.to_string(),
        data: json!({
            "kind": LedgerKind::Conversion.as_str(),
            "conversionId": row.id.to_string(),
            "membershipId": entry.membership_id.to_string(),
            "amount": money(entry.amount),
            "currency": row.currency,
            "earnedAt": entry.earned_at,
            "payableAt": entry.payable_at,
        }),
    })
}

/// A day's per-click commission booked for a membership (one per membership and
/// day in each stored batch of clicks).
pub fn click_commission_created(entry: &NewLedgerEntry, currency: &str) -> Event {
    Event {
        brand_id: entry.brand_id,
        event_type: EventType::CommissionCreated,
        object_id: entry.membership_id.to_string(),
        data: json!({
            "kind": LedgerKind::Clicks.as_str(),
            "conversionId": null,
            "membershipId": entry.membership_id.to_string(),
            "amount": money(entry.amount),
            "currency": currency,
            "earnedAt": entry.earned_at,
            "payableAt": entry.payable_at,
        }),
    }
}

/// Commission a refund or rejection took back: lowered before payment, or booked
/// as a clawback the next payment nets when it was already paid.
pub fn commission_clawed_back(
    row: &ConversionRow,
    conversion_id: ConversionId,
    membership_id: MembershipId,
    taken_back: Decimal,
    reason: &str,
) -> Event {
    Event {
        brand_id: row.brand_id,
        event_type: EventType::CommissionClawedBack,
        object_id: conversion_id.to_string(),
        data: json!({
            "conversionId": conversion_id.to_string(),
            "membershipId": membership_id.to_string(),
            "amount": money(taken_back),
            "currency": row.currency,
            "commission": money(row.commission),
            "reason": reason,
        }),
    }
}

pub fn payment(row: &PaymentRow, event_type: EventType) -> Event {
    Event {
        brand_id: row.brand_id,
        event_type,
        object_id: row.id.to_string(),
        data: json!({
            "id": row.id.to_string(),
            "state": row.state.as_str(),
            "scope": row.scope.as_str(),
            "provider": row.provider.as_str(),
            "offerId": row.offer_id.map(|o| o.to_string()),
            "totalAmount": money(row.total_amount),
            "idempotencyKey": row.idempotency_key,
            "providerBatchId": row.provider_batch_id,
            "createdAt": row.created_at,
            "completedAt": row.completed_at,
        }),
    }
}

/// The event a payment's state calls for, if any.
pub fn payment_state_event(row: &PaymentRow) -> Option<Event> {
    use crate::domain::enums::PaymentState;
    let event_type = match row.state {
        PaymentState::Processing => EventType::PaymentProcessing,
        PaymentState::Paid => EventType::PaymentPaid,
        PaymentState::PartiallyPaid => EventType::PaymentPartiallyPaid,
        PaymentState::Failed => EventType::PaymentFailed,
        _ => return None,
    };
    Some(payment(row, event_type))
}

pub fn payment_item_failed(item: &PaymentItemRow) -> Event {
    Event {
        brand_id: item.brand_id,
        event_type: EventType::PaymentItemFailed,
        object_id: item.payment_id.to_string(),
        data: json!({
            "id": item.id.to_string(),
            "paymentId": item.payment_id.to_string(),
            "membershipId": item.membership_id.to_string(),
            "amount": money(item.amount),
            "payoutAmount": {
                "amount": crate::domain::currency::format_in(item.payout_amount, &item.payout_currency),
                "currency": item.payout_currency,
            },
            "state": item.state.as_str(),
            "providerReference": item.provider_reference,
            "providerStatus": item.provider_status,
        }),
    }
}

/// `change` says what happened to it: `created`, `activated`, `deactivated`,
/// `removed` or `payout_changed`.
pub fn membership(row: &MembershipRow, event_type: EventType, change: &str) -> Event {
    Event {
        brand_id: row.brand_id,
        event_type,
        object_id: row.id.to_string(),
        data: json!({
            "id": row.id.to_string(),
            "offerId": row.offer_id.to_string(),
            "memberId": row.member_id.to_string(),
            "active": row.active,
            "linkCode": row.link_code,
            "payoutOverride": payout_rule(row.payout_type, row.payout_percent, row.payout_flat),
            "joinedAt": row.joined_at,
            "removedAt": row.removed_at,
            "change": change,
        }),
    }
}

pub fn promo_code(brand_id: BrandId, code: &PromoCodeRow, event_type: EventType) -> Event {
    Event {
        brand_id,
        event_type,
        object_id: code.membership_id.to_string(),
        data: json!({
            "code": code.code,
            "membershipId": code.membership_id.to_string(),
            "createdAt": code.created_at,
            "disabledAt": code.disabled_at,
        }),
    }
}

pub fn reward(row: &RewardRow, event_type: EventType) -> Event {
    Event {
        brand_id: row.brand_id,
        event_type,
        object_id: row.id.to_string(),
        data: json!({
            "id": row.id.to_string(),
            "membershipId": row.membership_id.to_string(),
            "kind": row.kind.as_str(),
            "cashAmount": optional_money(row.cash_amount),
            "description": row.description,
            "discountCode": row.discount_code,
            "ruleId": row.reward_rule_id.map(|r| r.to_string()),
            "grantedAt": row.granted_at,
            "reversedAt": row.reversed_at,
            "reversalReason": row.reversal_reason,
        }),
    }
}

/// An offer as it now stands; `today` in the brand's zone decides `EXPIRED`.
pub fn offer_updated(row: &OfferRow, today: chrono::NaiveDate) -> Event {
    let status = OfferStatus::effective(row.status, row.ends_on.is_some_and(|end| end < today));
    Event {
        brand_id: row.brand_id,
        event_type: EventType::OfferUpdated,
        object_id: row.id.to_string(),
        data: json!({
            "id": row.id.to_string(),
            "name": row.name,
            "type": row.offer_type.as_str(),
            "status": status.as_str(),
            "destinationUrl": row.destination_url,
            "codePrefix": row.code_prefix,
            "payout": payout_rule(Some(row.payout_type), row.payout_percent, row.payout_flat),
            "attributionWindowDays": row.attribution_window_days,
            "holdPeriodDays": row.hold_period_days,
            "startsOn": row.starts_on,
            "endsOn": row.ends_on,
            "updatedAt": row.updated_at,
        }),
    }
}
