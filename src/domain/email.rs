//! Member emails' pure rules: filling templates, and when a failed message is retried.

/// Attempts before a message is given up on.
pub const MAX_ATTEMPTS: i32 = 6;

/// The wait before retry number `attempts` (1 after the first failure): 30 s,
/// doubling each time, at most an hour.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let doublings = attempts.clamp(1, 8) - 1;
    chrono::Duration::seconds((30_i64 << doublings).min(3_600))
}

/// What one member's message is filled with.
pub struct TemplateValues<'a> {
    pub member_name: &'a str,
    pub offer_name: &'a str,
    pub brand_name: &'a str,
    pub link: Option<&'a str>,
    pub promo_code: Option<&'a str>,
    /// Reward emails only: the reward's discount code and its description.
    pub discount_code: Option<&'a str>,
    pub reward_description: Option<&'a str>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error(
        "unknown placeholder {{{{{0}}}}}; use one of memberName, offerName, brandName, link, promoCode, discountCode, rewardDescription"
    )]
    Unknown(String),
    #[error("a {{{{ is not closed by }}}}")]
    Unclosed,
    #[error("{{{{{0}}}}} has no value for {1}")]
    Missing(&'static str, String),
}

/// Fills `{{placeholder}}`s. A placeholder the member has no value for (a link
/// in a promo-code offer) is an error rather than a hole in the message.
pub fn render(template: &str, values: &TemplateValues<'_>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed)?;
        let name = after[..end].trim();
        let missing = |which: &'static str| TemplateError::Missing(which, values.member_name.to_string());
        let value = match name {
            "memberName" => values.member_name,
            "offerName" => values.offer_name,
            "brandName" => values.brand_name,
            "link" => values.link.ok_or_else(|| missing("link"))?,
            "promoCode" => values.promo_code.ok_or_else(|| missing("promoCode"))?,
            "discountCode" => values.discount_code.ok_or_else(|| missing("discountCode"))?,
            "rewardDescription" => values.reward_description.ok_or_else(|| missing("rewardDescription"))?,
            other => return Err(TemplateError::Unknown(other.to_string())),
        };
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(link: Option<&'static str>, code: Option<&'static str>) -> TemplateValues<'static> {
        TemplateValues {
            member_name: "Ana",
            offer_name: "Spring",
            brand_name: "Trail Co",
            link,
            promo_code: code,
            discount_code: None,
            reward_description: None,
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let text = render(
            "Hi {{memberName}}, {{ brandName }}'s {{offerName}}: {{promoCode}} / {{link}}",
            &values(Some("https://t.example/r/ana"), Some("SPRING-ANA")),
        );
        assert_eq!(
            text.unwrap(),
            "Hi Ana, Trail Co's Spring: SPRING-ANA / https://t.example/r/ana"
        );
    }

    #[test]
    fn refuses_unknown_unclosed_and_missing_placeholders() {
        assert_eq!(
            render("{{name}}", &values(None, None)),
            Err(TemplateError::Unknown("name".into()))
        );
        assert_eq!(
            render("Hi {{memberName", &values(None, None)),
            Err(TemplateError::Unclosed)
        );
        assert_eq!(
            render("{{link}}", &values(None, Some("X"))),
            Err(TemplateError::Missing("link", "Ana".into()))
        );
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let waits: Vec<i64> = (1..=9).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
