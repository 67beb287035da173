//! The records workflows hand back, as the adapters read them: the stored rows
//! of each entity and the page of a keyset-paged list.

pub use crate::db::audit::AuditRow;
pub use crate::db::conversions::{OrderLine, Owner};
pub use crate::db::emails::{AttemptRow, EmailRow};
pub use crate::db::ledger::Balance;
pub use crate::db::members::MemberSearch;
pub use crate::db::models::{
    ApiKeyRow, BrandRow, ClickRow, ConversionRow, MemberRow, MembershipRow, OfferRow, ProjectRow, PromoCodeRow,
};
pub use crate::db::pagination::{Page, PageRequest};
pub use crate::db::payments::{PaymentItemRow, PaymentRow};
pub use crate::db::rewards::{RewardRow, RewardRuleRow};
pub use crate::db::shop_imports::ImportRow;
pub use crate::db::shopify::StoreRow;
pub use crate::db::webhooks::{DeliveryRow, EndpointRow};
