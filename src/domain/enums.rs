//! The product's enumerations. Those stored as text have CHECK constraints, and
//! every one has one spelling shared by the database, GraphQL and the CSV files.
//! `product_enums!` lists them; `db` gives them SQL conversions and `graphql`
//! mirrors them as GraphQL enums, so the list is written once.

/// Every product enumeration: doc, name, and each variant with its spelling.
#[macro_export]
macro_rules! product_enums {
    ($then:ident) => {
        $then! {
            /// What an API key may do.
            Role {
                /// Everything, including payments and member edits.
                Admin => "ADMIN",
                /// Read only.
                Analyst => "ANALYST",
            }
            /// How creators drive sales for an offer.
            OfferType {
                /// A tracked link that redirects through `/r/{code}`.
                SalesLink => "SALES_LINK",
                /// A promo code the buyer enters at checkout.
                PromoCode => "PROMO_CODE",
            }
            /// An offer's state. `EXPIRED` is never stored: an offer whose end date has
            /// passed is expired unless it is archived.
            OfferStatus {
                /// Running: attributes orders and clicks.
                Active => "ACTIVE",
                /// Stopped for now by the brand.
                Paused => "PAUSED",
                /// Its end date has passed.
                Expired => "EXPIRED",
                /// Put away for good; kept for history.
                Archived => "ARCHIVED",
            }
            /// How a commission is computed.
            PayoutType {
                /// A percentage of the sale amount.
                PercentOfSale => "PERCENT_OF_SALE",
                /// A fixed amount for each accepted conversion.
                FlatPerConversion => "FLAT_PER_CONVERSION",
                /// A fixed amount for each counted click (sales links only).
                FlatPerClick => "FLAT_PER_CLICK",
                /// A percentage of the sale plus a fixed amount per conversion.
                PercentPlusFlat => "PERCENT_PLUS_FLAT",
            }
            /// Why a click earned no per-click commission.
            ClickUnpaidReason {
                /// A robot's user agent: stored, never counted.
                Bot => "BOT",
                /// The same visitor (IP address and user agent) on the same link
                /// within the repeat window: counted, paid once.
                RepeatVisitor => "REPEAT_VISITOR",
                /// The membership's payout is not per click.
                NoPerClickPayout => "NO_PER_CLICK_PAYOUT",
            }
            /// Where a conversion stands.
            ConversionStatus {
                /// Counts and earns commission.
                Accepted => "ACCEPTED",
                /// Refused by the brand, with a reason; earns nothing.
                Rejected => "REJECTED",
                /// Fully refunded; earns nothing.
                Reversed => "REVERSED",
            }
            /// How an order found its membership.
            AttributionType {
                /// Through a click on the member's sales link.
                Link => "LINK",
                /// Through the member's promo code.
                PromoCode => "PROMO_CODE",
                /// Credited by hand to the membership (`assignConversion`).
                Manual => "MANUAL",
            }
            /// Which memberships a Send Payment pays.
            PaymentScope {
                /// Every membership of every offer, whatever the offer's status
                /// (paused, expired and archived offers too).
                AllOffers => "ALL_OFFERS",
                /// What the home page's Payments Due shows: every active offer's
                /// memberships, or, with a home filter, the filtered offers'.
                ActiveOffers => "ACTIVE_OFFERS",
                /// The memberships of one offer, whatever its status.
                Offer => "OFFER",
                /// The chosen memberships.
                Memberships => "MEMBERSHIPS",
                /// Not a Send Payment: the commissions of orders a Shopify import
                /// brought in past their hold period, which the brand had paid
                /// outside Sales Tracking (`importShopifyOrders` without `payable`).
                ShopImport => "SHOP_IMPORT",
            }
            /// Where a payment or one of its items stands.
            PaymentState {
                /// Created, not yet handed to the provider.
                Pending => "PENDING",
                /// Handed to the provider, waiting for its answer.
                Processing => "PROCESSING",
                /// Paid out (a payment: every item was).
                Paid => "PAID",
                /// A payment some of whose items were paid and the others failed.
                PartiallyPaid => "PARTIALLY_PAID",
                /// The provider refused, failed, returned or blocked it; its commission
                /// is due again (a payment: no item was paid).
                Failed => "FAILED",
            }
            /// Who moves a payment's money.
            PaymentProvider {
                /// Nobody here: the brand pays outside (e.g. with the PayPal bulk-payout
                /// file), and the items are marked paid at once.
                Manual => "MANUAL",
                /// PayPal Payouts, one batch per payment, paid when PayPal reports it.
                Paypal => "PAYPAL",
            }
            /// What a reward gives.
            RewardKind {
                /// Money, added to the ledger and paid with the next payment.
                CashBonus => "CASH_BONUS",
                /// A product, recorded for the brand to ship.
                FreeProduct => "FREE_PRODUCT",
                /// A discount code for the member.
                DiscountCode => "DISCOUNT_CODE",
            }
            /// When a reward rule grants its reward.
            RewardTrigger {
                /// On the membership's first accepted conversion.
                FirstConversion => "FIRST_CONVERSION",
                /// On every `everyN`-th accepted conversion.
                EveryNConversions => "EVERY_N_CONVERSIONS",
                /// When the membership's accepted sales reach `salesThreshold`.
                SalesOverAmount => "SALES_OVER_AMOUNT",
            }
            /// Where an email stands.
            EmailStatus {
                /// Waiting to be sent or retried.
                Pending => "PENDING",
                /// Accepted by the SMTP server.
                Sent => "SENT",
                /// Every attempt failed; no more tries.
                Failed => "FAILED",
            }
            /// Where one event's delivery to one webhook endpoint stands.
            WebhookDeliveryStatus {
                /// Not answered with a 2xx yet: waiting for its next attempt.
                Pending => "PENDING",
                /// The endpoint answered 2xx.
                Succeeded => "SUCCEEDED",
                /// Every attempt failed; replay it to try again.
                Failed => "FAILED",
            }
            /// How a Shopify store was connected.
            ShopConnection {
                /// An Admin API access token from a custom app the brand made in its store.
                AccessToken => "ACCESS_TOKEN",
                /// Sales Tracking's Shopify app, installed through Shopify's authorization page.
                AppInstall => "APP_INSTALL",
            }
            /// Whether the server works with a brand's Shopify store.
            ShopStatus {
                /// The token works: codes, webhooks and imports go through.
                Connected => "CONNECTED",
                /// Disconnected by an admin, or the app was uninstalled in Shopify.
                Disconnected => "DISCONNECTED",
            }
            /// What a promo code takes off at the shop's checkout.
            ShopperDiscountType {
                /// A percentage of the order (1 to 100).
                Percentage => "PERCENTAGE",
                /// A fixed amount off the order, in the shop's currency.
                FixedAmount => "FIXED_AMOUNT",
            }
            /// Where a promo code stands in the brand's Shopify store.
            CodeSyncState {
                /// Not in step yet: the next sync round makes it so.
                Pending => "PENDING",
                /// The shop matches our records: the code works at checkout while it
                /// attributes, and not after.
                Synced => "SYNCED",
                /// Shopify refused it (e.g. the code is taken by another discount).
                Failed => "FAILED",
            }
            /// Where an import of a shop's order history stands.
            ImportState {
                /// Reading the shop's orders page by page (and resuming after a stop).
                Running => "RUNNING",
                /// Every order in the range was read.
                Done => "DONE",
                /// Stopped with an error; importing the same range again resumes it.
                Failed => "FAILED",
            }
            /// The dashboard's date range presets.
            DateRangePreset {
                /// Today and the 6 days before.
                Last7Days => "LAST_7_DAYS",
                /// Today and the 29 days before.
                Last30Days => "LAST_30_DAYS",
                /// The 3 months up to and including today.
                Last3Months => "LAST_3_MONTHS",
                /// The 6 months up to and including today (the default).
                Last6Months => "LAST_6_MONTHS",
                /// The 12 months up to and including today.
                Last12Months => "LAST_12_MONTHS",
                /// From the 1st of this month.
                MonthToDate => "MONTH_TO_DATE",
                /// From the first day of this quarter.
                QuarterToDate => "QUARTER_TO_DATE",
                /// From January 1st.
                YearToDate => "YEAR_TO_DATE",
                /// Everything recorded.
                AllTime => "ALL_TIME",
            }
            /// How wide each point of a KPI series is.
            SeriesInterval {
                Day => "DAY",
                /// Weeks start on Monday.
                Week => "WEEK",
                Month => "MONTH",
            }
        }
    };
}

macro_rules! define_text_enums {
    ($( $(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? } )*) => {
        $(
            $(#[$meta])*
            #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
            pub enum $name { $($(#[$vmeta])* $variant),+ }

            impl $name {
                pub const ALL: &[$name] = &[$($name::$variant),+];

                /// The spelling stored and shown, e.g. `PROMO_CODE`.
                pub fn as_str(self) -> &'static str {
                    match self { $(Self::$variant => $text),+ }
                }

                /// Reads the spelling; `None` for anything else.
                pub fn parse(text: &str) -> Option<Self> {
                    match text { $($text => Some(Self::$variant),)+ _ => None }
                }
            }
        )*
    };
}

product_enums!(define_text_enums);

/// Enumerations stored as text that the API does not show: the same spellings and
/// SQL conversions as `product_enums!`, no GraphQL mirror.
#[macro_export]
macro_rules! stored_enums {
    ($then:ident) => {
        $then! {
            /// What booked a ledger entry (the `ledger_entries.kind` CHECK constraint).
            LedgerKind {
                /// A conversion's commission.
                Conversion => "CONVERSION",
                /// A day's per-click commission.
                Clicks => "CLICKS",
                /// A cash bonus.
                Reward => "REWARD",
                /// What a refund, rejection or revocation takes back after the entry was paid.
                Clawback => "CLAWBACK",
            }
            /// What a background job does (the `jobs.kind` CHECK constraint).
            JobKind {
                /// Sends one event to one endpoint.
                WebhookDelivery => "WEBHOOK_DELIVERY",
                /// Sends the member emails waiting in the outbox.
                EmailOutbox => "EMAIL_OUTBOX",
                /// Asks payout providers about unsettled payments.
                PaymentReconciliation => "PAYMENT_RECONCILIATION",
                /// Moves ledger entries past their hold period to due.
                LedgerMaturity => "LEDGER_MATURITY",
                /// Makes the months of clicks to come, drops those past retention.
                ClickPartitions => "CLICK_PARTITIONS",
                /// Tells a brand's admin that an endpoint was disabled.
                AlertEmail => "ALERT_EMAIL",
                /// Queues a delivery per subscribed endpoint for events just written.
                EventDispatch => "EVENT_DISPATCH",
                /// Subscribes a newly connected Shopify store to the order webhooks.
                ShopifySetup => "SHOPIFY_SETUP",
                /// Brings the promo codes in connected Shopify stores in step with ours.
                ShopifyCodeSync => "SHOPIFY_CODE_SYNC",
                /// Imports a Shopify store's order history, page by page.
                ShopifyImport => "SHOPIFY_IMPORT",
                /// Fetches the reference exchange rates (the ECB's).
                ExchangeRates => "EXCHANGE_RATES",
            }
            /// Where a job stands (the `jobs.status` CHECK constraint).
            JobStatus {
                /// Waiting for its time, or running under a lease.
                Queued => "QUEUED",
                /// Out of attempts.
                Failed => "FAILED",
            }
        }
    };
}

stored_enums!(define_text_enums);

impl OfferStatus {
    /// The status a brand sees, given the stored one and whether the end date passed.
    pub fn effective(stored: OfferStatus, ended: bool) -> OfferStatus {
        match stored {
            OfferStatus::Archived => OfferStatus::Archived,
            _ if ended => OfferStatus::Expired,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for t in [
            PayoutType::PercentOfSale,
            PayoutType::FlatPerConversion,
            PayoutType::FlatPerClick,
            PayoutType::PercentPlusFlat,
        ] {
            assert_eq!(PayoutType::parse(t.as_str()), Some(t));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn archived_beats_expired_and_ended_offers_expire() {
        assert_eq!(
            OfferStatus::effective(OfferStatus::Archived, true),
            OfferStatus::Archived
        );
        assert_eq!(OfferStatus::effective(OfferStatus::Active, true), OfferStatus::Expired);
        assert_eq!(OfferStatus::effective(OfferStatus::Paused, true), OfferStatus::Expired);
        assert_eq!(OfferStatus::effective(OfferStatus::Paused, false), OfferStatus::Paused);
    }
}
