//! The sessions of one gRPC transport, by plugin endpoint, and the
//! `Runtime` service that creates them (RegisterPlugin) and routes calls
//! to them (UpdateContainers).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nri_core::proto::api::runtime_server::Runtime;
use nri_core::proto::api::{
    Empty, RegisterPluginRequest, UpdateContainersRequest, UpdateContainersResponse,
};
use nri_core::proto::defaults::DEFAULT_REGISTRATION_TIMEOUT;
use nri_core::transport::serving::deliver_runtime_call;
use nri_core::transport::{Accepted, Origin, RuntimeCall, RuntimeRequest, RuntimeResponse};
use tokio::net::unix::UCred;
use tokio::sync::{mpsc, watch};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::connection::GrpcConnection;
use crate::client::Client;
use crate::endpoint::Endpoint;
use crate::protocol::{DIAL_TIMEOUT, ENDPOINT_METADATA, LAUNCH_TOKEN_METADATA};
use crate::server::Peer;
use crate::status::to_tonic;

/// How many of a plugin's calls may wait for nri-core.
pub(crate) const CALL_QUEUE: usize = 64;

/// How long a registration waits for an earlier session at its endpoint
/// to end before it is refused: a plugin that restarts can register again
/// before this side has read the end of its previous connection.
const SUPERSEDE_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// A live session: where its plugin's calls go.
struct Session {
    id: u64,
    calls: mpsc::Sender<RuntimeCall>,
    /// The session's connection, to see it end.
    client: Client,
    /// The process that registered it, if its channel was a unix socket:
    /// only that process may call for the session.
    owner: Option<UCred>,
}

/// A launched plugin the runtime waits to hear from.
struct Launch {
    connection: Arc<GrpcConnection>,
    calls: mpsc::Sender<RuntimeCall>,
}

/// Sessions by endpoint, and launches by token.
pub(crate) struct Sessions {
    live: Mutex<HashMap<Endpoint, Session>>,
    launches: Mutex<HashMap<String, Launch>>,
    accepted: mpsc::UnboundedSender<Accepted>,
    /// True once the transport is shut down.
    down: watch::Receiver<bool>,
    next_id: std::sync::atomic::AtomicU64,
    /// How long an accepted connection may go unadmitted, in milliseconds.
    registration_timeout: AtomicU64,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    pub(crate) fn new(
        accepted: mpsc::UnboundedSender<Accepted>,
        down: watch::Receiver<bool>,
    ) -> Self {
        Sessions {
            live: Mutex::new(HashMap::new()),
            launches: Mutex::new(HashMap::new()),
            accepted,
            down,
            next_id: std::sync::atomic::AtomicU64::new(1),
            registration_timeout: AtomicU64::new(millis(DEFAULT_REGISTRATION_TIMEOUT)),
        }
    }

    /// How long an accepted connection may go unadmitted.
    pub(crate) fn registration_timeout(&self) -> Duration {
        Duration::from_millis(self.registration_timeout.load(Ordering::Relaxed))
    }

    pub(crate) fn set_registration_timeout(&self, timeout: Duration) {
        self.registration_timeout
            .store(millis(timeout), Ordering::Relaxed);
    }

    /// Waits for a launched plugin presenting `token`; if its process ends
    /// first, the launch is forgotten and its calls stream ends.
    pub(crate) fn expect_launch(
        self: &Arc<Self>,
        token: String,
        connection: Arc<GrpcConnection>,
        calls: mpsc::Sender<RuntimeCall>,
    ) {
        self.launches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                token.clone(),
                Launch {
                    connection: Arc::clone(&connection),
                    calls,
                },
            );
        let sessions = Arc::downgrade(self);
        tokio::spawn(async move {
            if let Some(process) = connection.process() {
                process.exited().await;
            }
            if let Some(sessions) = sessions.upgrade() {
                sessions
                    .launches
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&token);
            }
        });
    }

    /// Where the calls of the session at `endpoint` go, if `caller` may
    /// make them: the process that registered it (or anyone, for a session
    /// registered over TCP, which names no process).
    fn calls_of(
        &self,
        endpoint: &Endpoint,
        caller: Option<UCred>,
    ) -> Result<mpsc::Sender<RuntimeCall>, Status> {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let session = live.get(endpoint).ok_or_else(|| {
            Status::failed_precondition(format!("no plugin is registered at {endpoint}"))
        })?;
        match session.owner {
            Some(owner) if caller != Some(owner) => Err(Status::permission_denied(format!(
                "the plugin at {endpoint} was registered by another process"
            ))),
            _ => Ok(session.calls.clone()),
        }
    }

    /// RegisterPlugin: dials the plugin, opens its session and hands the
    /// registration to nri-core.
    async fn register(
        self: Arc<Self>,
        endpoint: Endpoint,
        token: Option<String>,
        owner: Option<UCred>,
        request: RuntimeRequest,
    ) -> Result<RuntimeResponse, Status> {
        if *self.down.borrow() {
            return Err(Status::unavailable("the runtime is shutting down"));
        }
        let previous = self
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&endpoint)
            .map(|session| session.client.clone());
        if let Some(previous) = previous
            && tokio::time::timeout(SUPERSEDE_GRACE, previous.closed())
                .await
                .is_err()
        {
            return Err(already_registered(&endpoint));
        }
        let launch = match token {
            Some(token) => Some(
                self.launches
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&token)
                    .ok_or_else(|| Status::permission_denied("unknown launch token"))?,
            ),
            None => None,
        };
        let client = dial(&endpoint).await?;
        let (connection, calls) = match launch {
            Some(launch) => {
                if !launch.connection.attach(client.clone()) {
                    return Err(Status::unavailable(
                        "the runtime gave up on this plugin before it registered",
                    ));
                }
                (launch.connection, launch.calls)
            }
            None => {
                let connection = Arc::new(GrpcConnection::new(Origin::External, None));
                connection.attach(client.clone());
                let (calls_tx, calls) = mpsc::channel(CALL_QUEUE);
                let accepted = Accepted {
                    connection: Arc::clone(&connection) as _,
                    calls,
                };
                if self.accepted.send(accepted).is_err() {
                    client.close("the runtime is shutting down");
                    return Err(Status::unavailable("the runtime is shutting down"));
                }
                (connection, calls_tx)
            }
        };
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        {
            let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
            // A session whose connection has ended is replaced, even if
            // its end is yet to be handled.
            let taken = live
                .get(&endpoint)
                .is_some_and(|session| session.client.closed_reason().is_none());
            if taken {
                drop(live);
                client.close("another plugin registered at this endpoint first");
                return Err(already_registered(&endpoint));
            }
            live.insert(
                endpoint.clone(),
                Session {
                    id,
                    calls: calls.clone(),
                    client: client.clone(),
                    owner,
                },
            );
        }
        tracing::debug!(%endpoint, origin = ?nri_core::transport::PluginConnection::origin(connection.as_ref()), "plugin session opened");
        let sessions = Arc::downgrade(&self);
        let watched = client.clone();
        let ended_endpoint = endpoint.clone();
        // The session's calls reach nri-core until the session ends, even
        // if the transport (and this map) is dropped first.
        let session_calls = calls.clone();
        tokio::spawn(async move {
            let reason = watched.closed().await;
            drop(session_calls);
            tracing::debug!(endpoint = %ended_endpoint, %reason, "plugin session ended");
            if let Some(sessions) = sessions.upgrade() {
                let mut live = sessions.live.lock().unwrap_or_else(PoisonError::into_inner);
                if live.get(&ended_endpoint).is_some_and(|s| s.id == id) {
                    live.remove(&ended_endpoint);
                }
            }
        });
        deliver(calls, request).await
    }
}

/// `duration` in whole milliseconds, saturating.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Hands a call to nri-core on `calls` and waits for the answer (without
/// keeping the queue open meanwhile).
async fn deliver(
    calls: mpsc::Sender<RuntimeCall>,
    request: RuntimeRequest,
) -> Result<RuntimeResponse, Status> {
    let answer = deliver_runtime_call(&calls, request).map_err(to_tonic)?;
    drop(calls);
    answer.await.map_err(to_tonic)
}

/// The answer to a registration at an endpoint that has a session.
fn already_registered(endpoint: &Endpoint) -> Status {
    Status::already_exists(format!("a plugin is registered at {endpoint} already"))
}

/// Dials a registering plugin's endpoint, within [`DIAL_TIMEOUT`].
async fn dial(endpoint: &Endpoint) -> Result<Client, Status> {
    let unavailable =
        |why: String| Status::unavailable(format!("cannot reach the plugin at {endpoint}: {why}"));
    let stream = tokio::time::timeout(DIAL_TIMEOUT, endpoint.dial())
        .await
        .map_err(|_| unavailable(format!("no connection within {DIAL_TIMEOUT:?}")))?
        .map_err(|error| unavailable(error.to_string()))?;
    Client::start(stream)
        .await
        .map_err(|error| unavailable(error.to_string()))
}

/// A launch token: 128 random bits in hex.
pub(crate) fn new_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0_u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The `Runtime` service of one [`GrpcTransport`](super::GrpcTransport):
/// a tonic service (`RuntimeServer<RuntimeService>`), served by the
/// transport on its own socket or mounted in a runtime's own tonic server
/// ([`GrpcTransport::runtime_service`](super::GrpcTransport::runtime_service)).
#[derive(Debug)]
pub struct RuntimeService {
    sessions: Arc<Sessions>,
}

impl RuntimeService {
    pub(crate) fn new(sessions: Arc<Sessions>) -> Self {
        RuntimeService { sessions }
    }
}

/// Who calls, as far as the connection tells: the process credentials of
/// a unix-socket peer, from this crate's own server ([`Peer`]) or from
/// tonic's when the service is mounted in a runtime's tonic server.
fn caller_of<T>(request: &Request<T>) -> (Option<&Arc<Peer>>, Option<UCred>) {
    let peer = request.extensions().get::<Arc<Peer>>();
    let credentials = match peer {
        Some(peer) => peer.credentials(),
        None => request
            .extensions()
            .get::<tonic::transport::server::UdsConnectInfo>()
            .and_then(|info| info.peer_cred),
    };
    (peer, credentials)
}

/// The text of metadata `key`, if present and readable.
fn text<'a>(metadata: &'a MetadataMap, key: &str) -> Result<Option<&'a str>, Status> {
    metadata
        .get(key)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| Status::invalid_argument(format!("metadata {key} is not text")))
        })
        .transpose()
}

/// The endpoint a call names in [`ENDPOINT_METADATA`].
fn endpoint_of(metadata: &MetadataMap) -> Result<Endpoint, Status> {
    text(metadata, ENDPOINT_METADATA)?
        .ok_or_else(|| Status::invalid_argument(format!("metadata {ENDPOINT_METADATA} is missing")))
        .and_then(|text| {
            Endpoint::parse(text).map_err(|error| Status::invalid_argument(error.to_string()))
        })
}

/// nri-core answered a call with the reply of another method.
fn mismatched(reply: &RuntimeResponse) -> Status {
    Status::internal(format!(
        "the runtime answered with a {} reply",
        reply.method_name()
    ))
}

#[tonic::async_trait]
impl Runtime for RuntimeService {
    async fn register_plugin(
        &self,
        request: Request<RegisterPluginRequest>,
    ) -> Result<Response<Empty>, Status> {
        let endpoint = endpoint_of(request.metadata())?;
        let token = text(request.metadata(), LAUNCH_TOKEN_METADATA)?.map(str::to_string);
        let (peer, owner) = caller_of(&request);
        let peer = peer.cloned();
        let request = RuntimeRequest::RegisterPlugin(request.into_inner());
        let reply = Arc::clone(&self.sessions)
            .register(endpoint, token, owner, request)
            .await?;
        if let Some(peer) = peer {
            peer.admit();
        }
        match reply {
            RuntimeResponse::RegisterPlugin(reply) => Ok(Response::new(reply)),
            other => Err(mismatched(&other)),
        }
    }

    async fn update_containers(
        &self,
        request: Request<UpdateContainersRequest>,
    ) -> Result<Response<UpdateContainersResponse>, Status> {
        let endpoint = endpoint_of(request.metadata())?;
        let (peer, caller) = caller_of(&request);
        let calls = self.sessions.calls_of(&endpoint, caller)?;
        // A registered plugin's channel may reconnect: its new connection
        // is as good as the first.
        if let Some(peer) = peer {
            peer.admit();
        }
        let request = RuntimeRequest::UpdateContainers(request.into_inner());
        match deliver(calls, request).await? {
            RuntimeResponse::UpdateContainers(reply) => Ok(Response::new(reply)),
            other => Err(mismatched(&other)),
        }
    }
}
