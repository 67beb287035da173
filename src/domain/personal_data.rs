//! Members' email and payout addresses are for admin keys only. Where free text or
//! recorded details may hold one (an SMTP server's reply, an audit event's input),
//! an analyst sees them with the addresses hidden.

use serde_json::Value;

/// What stands where an address was.
pub const HIDDEN: &str = "[hidden]";

/// Keys whose values are addresses, whatever their shape (a payout phone number too).
const ADDRESS_KEYS: [&str; 4] = ["email", "payoutemail", "to", "recipient"];

/// `text` with every word holding an `@` replaced by `HIDDEN`.
pub fn hide_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(if word.contains('@') { HIDDEN } else { word.as_str() });
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | ',' | ';' | '(' | ')') {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// `details` with address-named values and any string holding an `@` hidden.
pub fn hide_addresses_in_json(details: &Value) -> Value {
    match details {
        Value::String(text) => Value::String(hide_addresses(text)),
        Value::Array(items) => Value::Array(items.iter().map(hide_addresses_in_json).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| {
                    let is_address = ADDRESS_KEYS.contains(&key.to_ascii_lowercase().as_str());
                    let value = match value {
                        Value::Null => Value::Null,
                        _ if is_address => Value::String(HIDDEN.to_string()),
                        other => hide_addresses_in_json(other),
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_in_smtp_replies_are_hidden() {
        assert_eq!(
            hide_addresses("550 5.1.1 <ana@shop.example>: Recipient address rejected"),
            "550 5.1.1 <[hidden]>: Recipient address rejected"
        );
        assert_eq!(hide_addresses("connection refused"), "connection refused");
    }

    #[test]
    fn addresses_in_details_are_hidden_by_key_and_by_shape() {
        let details = json!({
            "memberId": "member_1",
            "email": "ana@shop.example",
            "payoutEmail": "+15551234567",
            "fields": ["name", "email"],
            "note": "wrote to ana@shop.example",
            "country": null,
        });
        assert_eq!(
            hide_addresses_in_json(&details),
            json!({
                "memberId": "member_1",
                "email": HIDDEN,
                "payoutEmail": HIDDEN,
                "fields": ["name", "email"],
                "note": "wrote to [hidden]",
                "country": null,
            })
        );
    }
}
