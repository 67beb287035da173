//! Outgoing webhooks' rules: the event types brands subscribe to, the Standard
//! Webhooks signature (<https://www.standardwebhooks.com>), the retry schedule
//! and which addresses an endpoint may reach.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

macro_rules! event_types {
    ($($(#[$meta:meta])* $variant:ident => $name:literal),+ $(,)?) => {
        /// A lifecycle change brands can be told about.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EventType { $($(#[$meta])* $variant),+ }

        impl EventType {
            pub const ALL: &[EventType] = &[$(EventType::$variant),+];

            /// The type as sent and subscribed to, e.g. `conversion.created`.
            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name),+ }
            }
        }
    };
}

event_types! {
    /// An order was recorded (attributed or not).
    ConversionCreated => "conversion.created",
    /// A conversion was refunded, rejected or assigned to a membership.
    ConversionUpdated => "conversion.updated",
    /// A conversion, or a batch of paid clicks, earned its membership a commission.
    CommissionCreated => "commission.created",
    /// A refund or rejection took commission back (lowered before payment, a clawback after).
    CommissionClawedBack => "commission.clawed_back",
    PaymentCreated => "payment.created",
    /// Handed to the provider, not settled yet.
    PaymentProcessing => "payment.processing",
    PaymentPaid => "payment.paid",
    PaymentPartiallyPaid => "payment.partially_paid",
    PaymentFailed => "payment.failed",
    /// One creator's transfer of a payment failed (its amount is due again).
    PaymentItemFailed => "payment_item.failed",
    MembershipCreated => "membership.created",
    /// Activated, deactivated, removed, or its payout changed.
    MembershipUpdated => "membership.updated",
    PromoCodeIssued => "promo_code.issued",
    PromoCodeDisabled => "promo_code.disabled",
    RewardGranted => "reward.granted",
    RewardRevoked => "reward.revoked",
    /// Its details, payout or status changed.
    OfferUpdated => "offer.updated",
}

impl EventType {
    /// Reads `conversion.created`, or its enum spelling `CONVERSION_CREATED`.
    pub fn parse(text: &str) -> Option<EventType> {
        let text = text.trim();
        EventType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == text || t.as_str().replace('.', "_").eq_ignore_ascii_case(text))
    }
}

/// What an endpoint's secret looks like: `whsec_` and the base64 of its key.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: 32 random bytes.
pub fn new_secret() -> String {
    format!("{SECRET_PREFIX}{}", BASE64.encode(rand::random::<[u8; 32]>()))
}

/// The HMAC key a `whsec_` secret holds.
fn secret_key(secret: &str) -> Vec<u8> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    BASE64.decode(encoded).unwrap_or_else(|_| encoded.as_bytes().to_vec())
}

/// The `webhook-signature` header: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under the secret's key.
pub fn signature(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret_key(secret)).expect("HMAC takes any key length");
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// Waits after each failed attempt, as the Standard Webhooks reference schedule:
/// from seconds to hours, about 27 hours in all; the delivery fails after the last.
pub const RETRY_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How long an endpoint failing every attempt stays enabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(5 * 86_400);

/// Whether an endpoint may be sent to at `ip`: only addresses on the public
/// internet, never this machine, a private network, link-local (cloud metadata)
/// or shared, documentation, multicast or reserved space.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24; benchmarking, 198.18.0.0/15.
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local fc00::/7, link-local fe80::/10, documentation 2001:db8::/32.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // IPv4-compatible and NAT64 forms hide an IPv4 address that is checked nowhere else.
        || ip.to_ipv4().is_some()
        || (first == 0x64 && ip.segments()[1] == 0xff9b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_read_both_spellings() {
        assert_eq!(
            EventType::parse("payment_item.failed"),
            Some(EventType::PaymentItemFailed)
        );
        assert_eq!(
            EventType::parse("PAYMENT_ITEM_FAILED"),
            Some(EventType::PaymentItemFailed)
        );
        assert_eq!(
            EventType::parse("commission.clawed_back"),
            Some(EventType::CommissionClawedBack)
        );
        assert_eq!(EventType::parse("payment.unknown"), None);
        assert_eq!(EventType::ALL.len(), 17);
    }

    #[test]
    fn signs_like_the_standard_webhooks_reference() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, id, 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn only_public_addresses_are_reachable() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
