//! The European Central Bank's euro foreign exchange reference rates: the
//! `eurofxref` XML (daily, last 90 days, or since 1999), one `Cube time='…'`
//! per business day holding `Cube currency='USD' rate='1.0512'` per currency,
//! in units of the currency per euro. Published around 16:00 CET on working days.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use quick_xml::Reader;
use quick_xml::events::Event;
use rust_decimal::Decimal;

use crate::app::ports::{RatesError, RatesSource};
use crate::domain::currency::{DayRates, is_code};

/// The last 90 days: enough to value any recent order, and about 45 KB.
pub const NINETY_DAYS_URL: &str = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml";
const TIMEOUT: Duration = Duration::from_secs(30);
/// The whole history since 1999 is about 6 MB; more is not the ECB's.
const MAX_BYTES: usize = 16 * 1024 * 1024;

/// The ECB's rates at `url`.
pub struct EcbRates {
    http: reqwest::Client,
    url: String,
}

impl EcbRates {
    pub fn new(url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("SalesTracking/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the rates client's settings are valid");
        EcbRates {
            http,
            url: url.to_string(),
        }
    }
}

#[async_trait]
impl RatesSource for EcbRates {
    fn name(&self) -> &str {
        "ECB"
    }

    async fn fetch(&self) -> Result<Vec<DayRates>, RatesError> {
        let unavailable = |e: reqwest::Error| RatesError::Unavailable(e.to_string());
        let response = self.http.get(&self.url).send().await.map_err(unavailable)?;
        if !response.status().is_success() {
            return Err(RatesError::Unavailable(format!(
                "{} answered {}",
                self.url,
                response.status()
            )));
        }
        let body = response.bytes().await.map_err(unavailable)?;
        if body.len() > MAX_BYTES {
            return Err(RatesError::Malformed(format!(
                "{} bytes is not a rates file",
                body.len()
            )));
        }
        let text = std::str::from_utf8(&body).map_err(|e| RatesError::Malformed(e.to_string()))?;
        parse(text)
    }
}

/// The days of an `eurofxref` document, oldest or newest first as given.
pub fn parse(xml: &str) -> Result<Vec<DayRates>, RatesError> {
    let malformed = |what: String| RatesError::Malformed(what);
    let mut reader = Reader::from_str(xml);
    let mut days: Vec<DayRates> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| malformed(e.to_string()))?;
        let cube = match event {
            Event::Start(element) | Event::Empty(element) if element.local_name().as_ref() == b"Cube" => element,
            Event::Eof => break,
            _ => continue,
        };
        let (mut time, mut currency, mut rate) = (None, None, None);
        for attribute in cube.attributes() {
            let attribute = attribute.map_err(|e| malformed(e.to_string()))?;
            let value = attribute
                .unescape_value()
                .map_err(|e| malformed(e.to_string()))?
                .into_owned();
            match attribute.key.as_ref() {
                b"time" => time = Some(value),
                b"currency" => currency = Some(value),
                b"rate" => rate = Some(value),
                _ => {}
            }
        }
        if let Some(time) = time {
            let day = NaiveDate::parse_from_str(&time, "%Y-%m-%d").map_err(|_| malformed(format!("day {time:?}")))?;
            days.push(DayRates {
                day,
                per_euro: HashMap::new(),
            });
        }
        if let (Some(currency), Some(rate)) = (currency, rate) {
            let per_euro = Decimal::from_str(&rate)
                .ok()
                .filter(|r| *r > Decimal::ZERO)
                .ok_or_else(|| malformed(format!("rate {rate:?} of {currency}")))?;
            if !is_code(&currency) {
                return Err(malformed(format!("currency {currency:?}")));
            }
            let day = days
                .last_mut()
                .ok_or_else(|| malformed(format!("a rate of {currency} outside a day")))?;
            day.per_euro.insert(currency, per_euro);
        }
    }
    if days.is_empty() {
        return Err(malformed("no day of rates".into()));
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape the ECB publishes (two days of its 90-day file, cut short).
    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
	<gesmes:subject>Reference rates</gesmes:subject>
	<gesmes:Sender>
		<gesmes:name>European Central Bank</gesmes:name>
	</gesmes:Sender>
	<Cube>
		<Cube time='2026-12-04'>
			<Cube currency='USD' rate='1.0512'/>
			<Cube currency='JPY' rate='157.23'/>
		</Cube>
		<Cube time='2026-12-03'>
			<Cube currency='USD' rate='1.0498'/>
		</Cube>
	</Cube>
</gesmes:Envelope>"#;

    #[test]
    fn the_ecb_shape_is_read_day_by_day() {
        let days = parse(SAMPLE).unwrap();
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].day, NaiveDate::from_ymd_opt(2026, 12, 4).unwrap());
        assert_eq!(days[0].per_euro["JPY"], Decimal::from_str("157.23").unwrap());
        assert_eq!(days[1].per_euro.len(), 1);
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(parse("<html>maintenance</html>").is_err());
        assert!(parse("<Cube><Cube time='2026-12-04'><Cube currency='USD' rate='-1'/></Cube></Cube>").is_err());
        assert!(parse("<Cube><Cube currency='USD' rate='1.05'/></Cube>").is_err());
    }
}
