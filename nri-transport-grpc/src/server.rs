//! A tonic service on one connection this side accepted: hyper's HTTP/2
//! server with this crate's [`settings`](crate::settings), each call
//! checked by [`Calls`] before the service sees it.
//!
//! Connections are served one by one here, rather than by tonic's
//! `Server`, because the runtime decides per connection: a connection
//! that has not registered within the registration timeout is closed, a
//! call carries who is at the other end (see [`Peer`]), and a plugin's
//! session is exactly one connection whose end is its end.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::unix::UCred;
use tokio::sync::watch;
use tonic::Status;
use tonic::body::Body;

use nri_host::{HeldTicket, Ticket};

use crate::endpoint::Stream;
use crate::settings;
use crate::status::deadline_of;

/// Who is at the other end of a connection, as the kernel tells it, and
/// whether the runtime has admitted the connection. Every call's request
/// carries it as an extension (`Arc<Peer>`).
#[derive(Debug)]
pub(crate) struct Peer {
    credentials: Option<UCred>,
    admitted: AtomicBool,
    /// The connection's place among those waiting to register.
    ticket: HeldTicket,
}

/// What a connection that must register gets: how long it may take, and
/// its place among the connections waiting to.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) timeout: Duration,
    pub(crate) ticket: Ticket,
}

impl Peer {
    fn new(credentials: Option<UCred>, ticket: Option<Ticket>) -> Self {
        Peer {
            credentials,
            admitted: AtomicBool::new(false),
            ticket: HeldTicket::new(ticket),
        }
    }

    /// The peer's process credentials (unix sockets only).
    pub(crate) fn credentials(&self) -> Option<UCred> {
        self.credentials
    }

    /// Keeps the connection past the registration timeout, and out of the
    /// waiting room.
    pub(crate) fn admit(&self) {
        self.admitted.store(true, Ordering::Release);
        self.ticket.admit();
    }

    fn is_admitted(&self) -> bool {
        self.admitted.load(Ordering::Acquire)
    }
}

/// A tonic service as a connection here serves it (the generated servers
/// are).
pub(crate) trait Served:
    tonic::codegen::Service<
        http::Request<Incoming>,
        Response = http::Response<Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> Served for S where
    S: tonic::codegen::Service<
            http::Request<Incoming>,
            Response = http::Response<Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// Serves `service` on `stream` until the peer closes the connection, it
/// fails, `close` turns true (then it is dropped at once, with calls
/// still running), or, with `registration` given, its timeout has passed
/// and no call has admitted the connection ([`Peer::admit`]). Returns why
/// it ended.
pub(crate) async fn serve<S: Served>(
    stream: Stream,
    service: S,
    close: watch::Receiver<bool>,
    registration: Option<Registration>,
) -> String {
    let (admission, ticket) = match registration {
        Some(registration) => (Some(registration.timeout), Some(registration.ticket)),
        None => (None, None),
    };
    let peer = Arc::new(Peer::new(stream.peer_credentials(), ticket));
    let calls = Calls {
        service,
        peer: Arc::clone(&peer),
    };
    let connection = settings::server().serve_connection(TokioIo::new(stream), calls);
    tokio::pin!(connection);
    let unadmitted = async {
        match admission {
            Some(after) => {
                tokio::time::sleep(after).await;
                if peer.is_admitted() {
                    std::future::pending::<()>().await;
                }
                format!("no registration within {after:?}")
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        ended = connection.as_mut() => match ended {
            Ok(()) => "the peer closed the connection".to_string(),
            Err(error) => format!("the connection failed: {error}"),
        },
        () = closing(close) => "closed by this side".to_string(),
        reason = unadmitted => reason,
    }
}

/// Resolves once `close` holds true; never if its sender is gone first.
pub(crate) async fn closing(mut close: watch::Receiver<bool>) {
    if close.wait_for(|close| *close).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Checks each call before `service` sees it: a `content-type` other than
/// gRPC's is answered HTTP 415 (as the gRPC protocol asks), a malformed
/// `grpc-timeout` `INVALID_ARGUMENT`, and a call still running at its
/// deadline `DEADLINE_EXCEEDED` (and dropped). The request carries the
/// connection's [`Peer`].
#[derive(Clone)]
struct Calls<S> {
    service: S,
    peer: Arc<Peer>,
}

type Answer = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

impl<S: Served> hyper::service::Service<http::Request<Incoming>> for Calls<S> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, mut request: http::Request<Incoming>) -> Answer {
        let is_grpc = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"));
        if !is_grpc {
            let mut answer = http::Response::new(Body::default());
            *answer.status_mut() = http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
            return Box::pin(std::future::ready(Ok(answer)));
        }
        let deadline = match deadline_of(request.headers()) {
            Ok(deadline) => deadline,
            Err(status) => return Box::pin(std::future::ready(Ok(status.into_http()))),
        };
        request.extensions_mut().insert(Arc::clone(&self.peer));
        // Generated tonic services are always ready; a clone per call is
        // an `Arc` clone.
        let answered = self.service.clone().call(request);
        Box::pin(async move {
            match deadline {
                Some(deadline) => match tokio::time::timeout(deadline, answered).await {
                    Ok(answer) => answer,
                    Err(_) => {
                        Ok(Status::deadline_exceeded("the call's deadline passed").into_http())
                    }
                },
                None => answered.await,
            }
        })
    }
}
