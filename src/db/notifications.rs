//! PostgreSQL's NOTIFY and LISTEN: how servers sharing a database tell each other
//! that something changed. NOTIFY works through a transaction pooler; LISTEN needs
//! a session of its own, so it connects directly.

use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{DbError, DbResult};

/// Sends each payload on `channel`, in one statement (one commit).
pub async fn notify(conn: &mut AsyncPgConnection, channel: &str, payloads: &[String]) -> DbResult<()> {
    diesel::sql_query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
        .bind::<Text, _>(channel)
        .bind::<Array<Text>, _>(payloads)
        .execute(conn)
        .await?;
    Ok(())
}

/// A session listening on one channel.
pub struct Listening {
    // Dropping the client ends the session.
    _client: tokio_postgres::Client,
    payloads: mpsc::UnboundedReceiver<String>,
}

impl Listening {
    /// The next notification's payload; none once the session is lost.
    pub async fn next(&mut self) -> Option<String> {
        self.payloads.recv().await
    }
}

/// Opens a session on `url` and LISTENs on `channel` (an identifier of ours, never input).
pub async fn listen(url: &str, channel: &'static str) -> DbResult<Listening> {
    let unavailable = |error: tokio_postgres::Error| DbError::Unavailable(error.to_string());
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(unavailable)?;
    let (sender, payloads) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(notification)) => {
                    if sender.send(notification.payload().to_string()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the LISTEN session was lost");
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {channel}"))
        .await
        .map_err(unavailable)?;
    Ok(Listening {
        _client: client,
        payloads,
    })
}
