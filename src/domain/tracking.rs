//! Click handling rules: bots, the click id carried to the shop, and attribution.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::domain::ids::MembershipId;

/// The query parameter that carries a click id to the shop and back in orders.
pub const CLICK_ID_PARAM: &str = "st_click";

/// The user agents of robots: the `isbot` project's maintained list of patterns
/// (crawlers, link previewers, monitors, HTTP libraries, headless browsers).
static BOTS: std::sync::LazyLock<isbot::Bots> = std::sync::LazyLock::new(isbot::Bots::default);

/// Whether a text has the shape every link code has (the `memberships` check
/// constraint): anything else is answered 404 without asking the database.
pub fn could_be_link_code(code: &str) -> bool {
    let bytes = code.as_bytes();
    (3..=64).contains(&bytes.len())
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// Whether a click with this user agent is a bot (stored, never counted). No user agent is a bot.
pub fn is_bot(user_agent: &str) -> bool {
    let agent = user_agent.trim();
    agent.is_empty() || BOTS.is_bot(agent)
}

/// A visitor of a link, for the repeat rule: a keyed hash of their address's hash
/// and their user agent (16 bytes), or none when the click has no address.
pub fn visitor_key(ip_hash: Option<&[u8]>, user_agent: &str) -> Option<Vec<u8>> {
    use sha2::{Digest, Sha256};
    let ip_hash = ip_hash?;
    let mut hasher = Sha256::new();
    hasher.update(ip_hash);
    hasher.update([0]);
    hasher.update(user_agent.as_bytes());
    Some(hasher.finalize()[..16].to_vec())
}

/// The destination with the click id appended, keeping the destination's own query.
pub fn redirect_target(destination: &url::Url, click_id: Uuid) -> String {
    let mut target = destination.clone();
    target
        .query_pairs_mut()
        .append_pair(CLICK_ID_PARAM, &click_id.to_string());
    target.into()
}

/// Finds the click id in a landing URL, which may be absolute or just a path and query
/// (Shopify's `landing_site` is the latter).
pub fn click_id_from_landing(landing: &str) -> Option<Uuid> {
    let base = url::Url::parse("https://landing.invalid/").expect("static URL");
    let parsed = base.join(landing.trim()).ok()?;
    parsed
        .query_pairs()
        .find(|(key, _)| key == CLICK_ID_PARAM)
        .and_then(|(_, value)| Uuid::parse_str(&value).ok())
}

/// A membership an order could go to, and whether it may take orders at that time
/// (membership active, offer active and within its dates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub membership_id: MembershipId,
    pub eligible: bool,
}

/// The click named by the order, with the offer's attribution window.
#[derive(Clone, Copy, Debug)]
pub struct ClickCandidate {
    pub candidate: Candidate,
    pub click_id: Uuid,
    pub clicked_at: DateTime<Utc>,
    pub is_bot: bool,
    pub window_days: i32,
}

/// Who gets credit for an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribution {
    PromoCode {
        membership_id: MembershipId,
    },
    Link {
        membership_id: MembershipId,
        click_id: Uuid,
    },
    Unattributed,
}

/// SPEC.md *Attribution*: an active promo code first, then a click within the window;
/// one membership per order; otherwise unattributed.
pub fn attribute(promo: Option<Candidate>, click: Option<ClickCandidate>, ordered_at: DateTime<Utc>) -> Attribution {
    if let Some(code) = promo.filter(|c| c.eligible) {
        return Attribution::PromoCode {
            membership_id: code.membership_id,
        };
    }
    if let Some(click) = click {
        let age = ordered_at - click.clicked_at;
        let in_window = age >= Duration::zero() && age <= Duration::days(i64::from(click.window_days));
        if click.candidate.eligible && in_window && !click.is_bot {
            return Attribution::Link {
                membership_id: click.candidate.membership_id,
                click_id: click.click_id,
            };
        }
    }
    Attribution::Unattributed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bots_by_user_agent() {
        for agent in [
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
            "curl/8.1",
            "",
            "facebookexternalhit/1.1",
            "Mozilla/5.0 HeadlessChrome/120",
        ] {
            assert!(is_bot(agent), "{agent}");
        }
        assert!(!is_bot(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"
        ));
    }

    #[test]
    fn click_id_is_appended_and_found_again() {
        let id = Uuid::now_v7();
        let destination = url::Url::parse("https://shop.example.com/p?color=red#top").unwrap();
        let target = redirect_target(&destination, id);
        assert_eq!(
            target,
            format!("https://shop.example.com/p?color=red&st_click={id}#top")
        );
        assert_eq!(click_id_from_landing(&target), Some(id));
        assert_eq!(
            click_id_from_landing(&format!("/products/x?utm=a&st_click={id}")),
            Some(id)
        );
        assert_eq!(click_id_from_landing("/products/x?st_click=nope"), None);
        assert_eq!(click_id_from_landing(""), None);
    }

    fn click(membership_id: i64, days_before: i64, eligible: bool) -> ClickCandidate {
        ClickCandidate {
            candidate: Candidate {
                membership_id: MembershipId(membership_id),
                eligible,
            },
            click_id: Uuid::nil(),
            clicked_at: Utc::now() - Duration::days(days_before),
            is_bot: false,
            window_days: 30,
        }
    }

    #[test]
    fn promo_code_beats_click_and_window_and_eligibility_apply() {
        let now = Utc::now();
        let code = Some(Candidate {
            membership_id: MembershipId(1),
            eligible: true,
        });
        assert_eq!(
            attribute(code, Some(click(2, 1, true)), now),
            Attribution::PromoCode {
                membership_id: MembershipId(1)
            }
        );
        let inactive_code = Some(Candidate {
            membership_id: MembershipId(1),
            eligible: false,
        });
        assert_eq!(
            attribute(inactive_code, Some(click(2, 1, true)), now),
            Attribution::Link {
                membership_id: MembershipId(2),
                click_id: Uuid::nil()
            }
        );
        assert_eq!(
            attribute(None, Some(click(2, 31, true)), now),
            Attribution::Unattributed
        );
        assert_eq!(
            attribute(None, Some(click(2, 29, false)), now),
            Attribution::Unattributed
        );
        assert_eq!(
            attribute(None, Some(click(2, -1, true)), now),
            Attribution::Unattributed,
            "a click after the order"
        );
        assert_eq!(attribute(None, None, now), Attribution::Unattributed);
    }
}
