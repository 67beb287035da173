//! The SMTP server member emails leave through.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::app::ports::{MailSender, SendFailure};

/// Where and as whom messages are sent.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

#[derive(Debug, thiserror::Error)]
pub enum MailerConfigError {
    #[error("SMTP URL: {0}")]
    Url(#[from] lettre::transport::smtp::Error),
    #[error("sender address: {0}")]
    From(#[from] lettre::address::AddressError),
}

impl SmtpMailer {
    /// `url` as lettre reads it: `smtp://host:25` (plain), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host:465`; `from` like `Brand <team@brand.com>`.
    pub fn new(url: &str, from: &str) -> Result<Self, MailerConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        Ok(SmtpMailer {
            transport,
            from: from.parse()?,
        })
    }
}

#[async_trait]
impl MailSender for SmtpMailer {
    async fn send(&self, to_address: &str, subject: &str, body: &str) -> Result<(), SendFailure> {
        let invalid = |message: String| SendFailure {
            message,
            permanent: true,
        };
        let to: Mailbox = to_address
            .parse()
            .map_err(|e| invalid(format!("recipient {to_address}: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body.to_string())
            .map_err(|e| invalid(format!("message: {e}")))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| SendFailure {
            permanent: e.is_permanent(),
            message: e.to_string(),
        })
    }
}
