//! `GET /graphql` with `Upgrade: websocket`: subscriptions over the
//! `graphql-transport-ws` protocol of the graphql-ws library (and the older
//! `graphql-ws` one of subscriptions-transport-ws), through async-graphql. The
//! API key comes as the `connection_init` payload
//! `{"authorization": "Bearer <key>"}`; a connection that sends none within
//! `INIT_DEADLINE` is closed with 4408, as the protocol says.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_graphql::{Data, Executor, Request, Response};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use futures_util::stream::BoxStream;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::RestError;
use super::graphql::{AuthFailure, authenticate};
use super::server::{AddressCounts, AddressSlot};
use super::{AppState, ClientAddress};
use crate::graphql::AppSchema;
use crate::graphql::limits::RateSubject;
use crate::graphql::live::{LiveCosting, LiveSession, coded_error, prepare_subscription};

/// A connection must send `connection_init` within this.
const INIT_DEADLINE: Duration = Duration::from_secs(10);
/// The server pings idle connections this often, so proxies keep them open.
const PING_EVERY: Duration = Duration::from_secs(30);
/// Subscriptions one connection may hold at once (a dashboard needs one or two).
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 100;
/// WebSocket connections one client address may hold, and the server in all.
pub const MAX_LIVE_CONNECTIONS_PER_ADDRESS: usize = 64;
pub const MAX_LIVE_CONNECTIONS: usize = 10_000;
/// Read and write buffers of a connection.
const SOCKET_BUFFER_BYTES: usize = 8 * 1024;
/// Messages from a client are small: a subscription document and its variables.
const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// `GET /graphql`: a WebSocket upgrade becomes a live connection, anything else
/// is a query in the query string.
pub async fn get_or_upgrade(
    State(state): State<AppState>,
    client: ClientAddress,
    request: axum::extract::Request,
) -> HttpResponse {
    let (mut parts, _) = request.into_parts();
    let wants_websocket = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !wants_websocket {
        let query = parts.uri.query().map(str::to_string);
        return super::graphql::handle_get(State(state), client, parts.headers, RawQuery(query)).await;
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return RestError::new(rejection.status(), "BAD_REQUEST", rejection.body_text()).into_response();
        }
    };
    let Ok(protocol) = GraphQLProtocol::from_request_parts(&mut parts, &state).await else {
        return RestError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "speak graphql-transport-ws (Sec-WebSocket-Protocol) to subscribe",
        )
        .into_response();
    };
    let Some(slot) = state.live_connections.take(client.0) else {
        return RestError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "THROTTLED",
            "too many live connections from this address; close one or subscribe over one you have",
        )
        .into_response();
    };
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_MESSAGE_BYTES)
        // Idle connections are the common case: small buffers (the defaults are 128 KiB each).
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(SOCKET_BUFFER_BYTES)
        .on_upgrade(move |socket| serve(socket, state, client, protocol, slot))
}

/// Runs one connection: the protocol, the init deadline and the server's pings.
async fn serve(socket: WebSocket, state: AppState, client: ClientAddress, protocol: GraphQLProtocol, _slot: LiveSlot) {
    let (mut socket_sink, socket_stream) = socket.split();
    let (outgoing, mut to_send) = futures_channel::mpsc::channel::<Message>(16);
    let initialized = Arc::new(AtomicBool::new(false));
    let executor = ConnectionExecutor {
        schema: state.schema.clone(),
        costing: state
            .schema
            .data::<LiveCosting>()
            .expect("build_schema gives the schema its LiveCosting")
            .clone(),
        open: Arc::default(),
    };
    let init = {
        let initialized = initialized.clone();
        move |payload: serde_json::Value| async move {
            let data = session_data(&state, client, &payload).await?;
            initialized.store(true, Ordering::Relaxed);
            Ok(data)
        }
    };
    let protocol_run = GraphQLWebSocket::new_with_pair(outgoing.clone(), socket_stream, executor, protocol)
        .on_connection_init(init)
        .serve();
    let watchdog = {
        let mut outgoing = outgoing;
        async move {
            tokio::time::sleep(INIT_DEADLINE).await;
            if !initialized.load(Ordering::Relaxed) {
                let close = CloseFrame {
                    code: 4408,
                    reason: "Connection initialisation timeout".into(),
                };
                let _ = outgoing.send(Message::Close(Some(close))).await;
                return;
            }
            loop {
                tokio::time::sleep(PING_EVERY).await;
                if outgoing.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    };
    let writer = async move {
        while let Some(message) = to_send.next().await {
            if socket_sink.send(message).await.is_err() {
                break;
            }
        }
        let _ = socket_sink.close().await;
    };
    // The writer drains what the others sent, then closes the socket once both are gone.
    let run = async move {
        tokio::select! {
            () = protocol_run => {}
            () = watchdog => {}
        }
    };
    tokio::join!(run, writer);
}

/// What a connection's subscriptions run as, from its `connection_init` payload.
async fn session_data(
    state: &AppState,
    client: ClientAddress,
    payload: &serde_json::Value,
) -> async_graphql::Result<Data> {
    let given = ["authorization", "Authorization"]
        .iter()
        .find_map(|name| payload.get(name).and_then(|v| v.as_str()));
    let Some(given) = given else {
        return Err(r#"send the API key as the connection_init payload {"authorization": "Bearer <key>"}"#.into());
    };
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(given).map_err(|_| async_graphql::Error::new("the API key is not valid"))?;
    headers.insert(header::AUTHORIZATION, value);
    let caller = match authenticate(state, client, &headers).await {
        Ok(Some(caller)) => caller,
        Ok(None) | Err(AuthFailure::BadKey) => return Err("the API key is not valid".into()),
        Err(AuthFailure::TooManyFailures(_)) => {
            return Err("too many invalid API keys from this address; try again later".into());
        }
        Err(AuthFailure::Database(error)) => {
            tracing::error!(?error, "API key lookup failed");
            return Err("the database is unavailable; try again shortly".into());
        }
    };
    let secret = given
        .trim()
        .split_once(' ')
        .map_or(given, |(_, secret)| secret)
        .trim()
        .to_string();
    let mut data = Data::default();
    data.insert(state.app.clone());
    data.insert(RateSubject(format!("key:{}", caller.api_key_id)));
    data.insert(caller);
    data.insert(LiveSession { secret });
    Ok(data)
}

/// Runs one connection's operations: subscriptions only, at most
/// `MAX_SUBSCRIPTIONS_PER_CONNECTION` at once.
#[derive(Clone)]
struct ConnectionExecutor {
    schema: AppSchema,
    costing: LiveCosting,
    open: Arc<AtomicUsize>,
}

fn refusal(message: &str, code: &str) -> Response {
    Response::from_errors(vec![coded_error(message, code)])
}

impl Executor for ConnectionExecutor {
    async fn execute(&self, _: Request) -> Response {
        refusal("send queries and mutations with POST /graphql", "BAD_REQUEST")
    }

    fn execute_stream(&self, request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let request = match prepare_subscription(&self.costing, request) {
            Ok(request) => request,
            Err(error) => return futures_util::stream::once(async { Response::from_errors(vec![error]) }).boxed(),
        };
        let Some(open) = OpenSubscription::take(&self.open) else {
            let message = format!("a connection holds at most {MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions");
            return futures_util::stream::once(async move { refusal(&message, "THROTTLED") }).boxed();
        };
        self.schema
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .map(move |response| {
                let _open = &open;
                response
            })
            .boxed()
    }
}

/// One running subscription of a connection; its place is given back when it ends.
struct OpenSubscription(Arc<AtomicUsize>);

impl OpenSubscription {
    fn take(open: &Arc<AtomicUsize>) -> Option<Self> {
        let taken = open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
            (count < MAX_SUBSCRIPTIONS_PER_CONNECTION).then_some(count + 1)
        });
        taken.ok().map(|_| OpenSubscription(open.clone()))
    }
}

impl Drop for OpenSubscription {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Open live connections, per client address and in all: an upgraded
/// connection has left the HTTP server's own counts.
#[derive(Clone)]
pub struct LiveConnections {
    by_address: AddressCounts,
    all: Arc<Semaphore>,
}

impl Default for LiveConnections {
    fn default() -> Self {
        LiveConnections {
            by_address: AddressCounts::default(),
            all: Arc::new(Semaphore::new(MAX_LIVE_CONNECTIONS)),
        }
    }
}

/// One open live connection; its places are given back when it closes.
pub struct LiveSlot {
    _address: AddressSlot,
    _place: OwnedSemaphorePermit,
}

impl LiveConnections {
    fn take(&self, address: Option<IpAddr>) -> Option<LiveSlot> {
        // Without a socket (a router called in-process) every caller is one address.
        let address = address.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let place = self.all.clone().try_acquire_owned().ok()?;
        let address = self.by_address.take(address, MAX_LIVE_CONNECTIONS_PER_ADDRESS)?;
        Some(LiveSlot {
            _address: address,
            _place: place,
        })
    }
}
