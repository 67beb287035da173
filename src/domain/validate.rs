//! Checks on user input, shared by GraphQL, the CLI and the demo seeder. Each
//! returns the cleaned value or a sentence saying what is wrong.

use chrono_tz::Tz;

pub type Invalid = String;

/// A display name: trimmed, 1 to 200 characters.
pub fn name(field: &str, value: &str) -> Result<String, Invalid> {
    let trimmed = value.trim();
    match trimmed.chars().count() {
        0 => Err(format!("{field} must not be empty")),
        1..=200 => Ok(trimmed.to_string()),
        _ => Err(format!("{field} must be at most 200 characters")),
    }
}

/// An email address: one `@` with something on both sides, no spaces.
pub fn email(field: &str, value: &str) -> Result<String, Invalid> {
    let trimmed = value.trim();
    let valid = match trimmed.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !trimmed.chars().any(char::is_whitespace)
                && trimmed.len() <= 254
        }
        None => false,
    };
    if valid {
        Ok(trimmed.to_string())
    } else {
        Err(format!("{field} is not a valid email address"))
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
        ] {
            assert!(email("email", bad).is_err(), "{bad} should be rejected");
        }
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
    fn slugs() {
        assert_eq!(slugify("Acme Outdoor Co."), "acme-outdoor-co");
        assert_eq!(slugify("  ***  "), "brand");
    }
}
