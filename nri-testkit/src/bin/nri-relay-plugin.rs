//! `nri-relay-plugin`: an NRI plugin process whose handler lives in another
//! process, for tests that need plugins to be real child processes.
//!
//! It has two links, both speaking the NRI ttrpc protocol (see
//! `nri_testkit::conformance::ProcessHarness` for the picture):
//!
//! - the **real link** to the runtime under test, where the relay is the
//!   plugin: it adopts the socket named by `NRI_PLUGIN_SOCKET` when the
//!   runtime launched it, else dials `NRI_RELAY_RUNTIME_SOCKET`;
//! - the **control link**, where the relay is the runtime: it listens on
//!   `NRI_RELAY_CONTROL_SOCKET` and accepts one connection from the process
//!   that serves the plugin's handler.
//!
//! Every `Plugin`-service call from the runtime is forwarded over the
//! control link, and every `Runtime`-service call from the control link is
//! made on the real link; answers go back unchanged, except that a forwarded
//! call that times out or loses the control link is never answered: the
//! runtime's own deadline, or the relay's exit, ends it, as it would for a
//! plugin that hangs or crashes. Once it listens on the
//! control socket and is connected to the runtime, it prints
//! `nri-relay-plugin ready` on standard output. When either link closes it
//! exits with status 0, closing the other; when it cannot start, it says why
//! on standard error and exits with status 1.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nri_core::proto::defaults::PLUGIN_SOCKET_ENV as ENV_PLUGIN_SOCKET;
use nri_core::transport::{
    Accepted, CallError, PluginConnection, PluginHandler, PluginRequest, PluginResponse,
    RuntimeCall, Transport,
};
use nri_testkit::conformance::{RELAY_CONTROL_SOCKET, RELAY_READY, RELAY_RUNTIME_SOCKET};
use nri_transport_ttrpc::{RuntimeConnection, TtrpcTransport};
use tokio::sync::{mpsc, watch};

/// How long a forwarded call may take until the runtime's Configure says
/// otherwise (upstream's default request timeout).
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let control = non_empty_var(RELAY_CONTROL_SOCKET)
        .ok_or_else(|| format!("{RELAY_CONTROL_SOCKET} is not set"));
    let outcome = control.and_then(|control| {
        let link = RuntimeLink::from_environment()?;
        // One thread: calls forwarded in arrival order reach the wire in
        // that order.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start the async runtime: {error}"))?;
        runtime.block_on(relay(link, &control))
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nri-relay-plugin: {message}");
            ExitCode::FAILURE
        }
    }
}

/// How the relay reaches the runtime under test.
enum RuntimeLink {
    /// The runtime launched the relay and passed the socket named by
    /// `NRI_PLUGIN_SOCKET`.
    Inherited,
    /// The relay dials this socket.
    Dial(PathBuf),
}

impl RuntimeLink {
    /// Reads the environment. Runs before the relay opens any descriptor
    /// of its own, so that a descriptor named by `NRI_PLUGIN_SOCKET` is
    /// known to be inherited rather than one the relay opened later.
    fn from_environment() -> Result<Self, String> {
        let Some(value) = std::env::var_os(ENV_PLUGIN_SOCKET).filter(|v| !v.is_empty()) else {
            return non_empty_var(RELAY_RUNTIME_SOCKET)
                .map(RuntimeLink::Dial)
                .ok_or_else(|| {
                    format!("neither {ENV_PLUGIN_SOCKET} nor {RELAY_RUNTIME_SOCKET} is set")
                });
        };
        // Anything but a number is refused with a reason when adopted.
        if let Some(fd) = value.to_str().and_then(|v| v.trim().parse::<u32>().ok())
            && std::fs::symlink_metadata(format!("/proc/self/fd/{fd}")).is_err()
        {
            return Err(format!("fd {fd} named by {ENV_PLUGIN_SOCKET} is not open"));
        }
        Ok(RuntimeLink::Inherited)
    }

    /// Connects to the runtime, serving `handler`.
    async fn connect(self, handler: Arc<dyn PluginHandler>) -> Result<RuntimeConnection, String> {
        match self {
            RuntimeLink::Inherited => RuntimeConnection::from_environment(handler)
                .map_err(|error| format!("cannot use the socket the runtime passed: {error}"))?
                .ok_or_else(|| format!("{ENV_PLUGIN_SOCKET} is not set")),
            RuntimeLink::Dial(path) => RuntimeConnection::connect(&path, handler)
                .await
                .map_err(|error| error.to_string()),
        }
    }
}

/// Sets up both links and relays until one of them closes.
async fn relay(link: RuntimeLink, control_path: &Path) -> Result<(), String> {
    let forwarder = Arc::new(Forwarder::default());
    let real = link
        .connect(Arc::clone(&forwarder) as Arc<dyn PluginHandler>)
        .await?;
    let listener = TtrpcTransport::listen(control_path)
        .map_err(|error| format!("cannot listen on the control socket: {error}"))?;
    announce_ready()?;

    let accepted = tokio::select! {
        accepted = listener.accept() => accepted,
        // The runtime gave up on us before anyone took control.
        _ = real.closed() => return Ok(()),
    };
    listener.shut_down();
    let Accepted {
        connection: control,
        calls,
    } = accepted.ok_or_else(|| "the control socket closed unexpectedly".to_string())?;
    forwarder.attach(Arc::clone(&control));

    let real = Arc::new(real);
    tokio::select! {
        () = relay_runtime_calls(calls, Arc::clone(&real)) => {}
        _ = real.closed() => {}
    }
    real.close();
    control.close().await;
    Ok(())
}

/// The value of `name`, if set and not empty.
fn non_empty_var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

fn announce_ready() -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{RELAY_READY}")
        .and_then(|()| out.flush())
        .map_err(|error| format!("cannot write to standard output: {error}"))
}

/// Makes each call the control link delivers on the real link and answers
/// it with the runtime's reply. Returns when the control link closes.
async fn relay_runtime_calls(mut calls: mpsc::Receiver<RuntimeCall>, real: Arc<RuntimeConnection>) {
    while let Some(call) = calls.recv().await {
        let real = Arc::clone(&real);
        // One task per call, spawned in arrival order: on the relay's
        // current-thread runtime they reach the wire in that order.
        tokio::spawn(async move {
            let (request, responder) = call.into_parts();
            match real.call(request, None).await {
                // The relay is going down with the real link; the caller
                // must see its link close, not an error status.
                Err(CallError::Closed { .. }) => {
                    let _keep_unanswered = responder;
                    std::future::pending::<()>().await;
                }
                answer => {
                    responder.reply(answer);
                }
            }
        });
    }
}

/// The relay's `Plugin` service: forwards every call over the control link.
#[derive(Default)]
struct Forwarder {
    /// The control link, once its peer connected.
    control: watch::Sender<Option<Arc<dyn PluginConnection>>>,
    /// The runtime's request timeout, learnt from Configure: the control
    /// call gets the same deadline as the runtime's call, so a handler that
    /// hangs is dropped at the far end as it would be in a plugin.
    timeout: Mutex<Option<Duration>>,
}

impl Forwarder {
    fn attach(&self, control: Arc<dyn PluginConnection>) {
        self.control.send_replace(Some(control));
    }

    fn timeout_for(&self, request: &PluginRequest) -> Duration {
        let mut timeout = self.timeout.lock().unwrap_or_else(PoisonError::into_inner);
        if let PluginRequest::Configure(configure) = request
            && let Ok(millis) = u64::try_from(configure.request_timeout)
            && millis > 0
        {
            *timeout = Some(Duration::from_millis(millis));
        }
        timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT)
    }
}

#[async_trait::async_trait]
impl PluginHandler for Forwarder {
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        let timeout = self.timeout_for(&request);
        let mut control = self.control.subscribe();
        let control = control
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|attached| attached.clone());
        let Some(control) = control else {
            return Err(CallError::Closed {
                reason: nri_core::transport::CloseReason::Failed(
                    "the relay has no control link".into(),
                ),
            });
        };
        match control.call(request.borrowed(), timeout).await {
            // The handler's side is gone (it disconnected or panicked): the
            // relay exits, and the runtime must see the plugin vanish rather
            // than an error status.
            Err(CallError::Closed { .. }) => std::future::pending().await,
            // The runtime's own deadline, which started first, ends this
            // call; answering now could beat it with an error status.
            Err(CallError::Timeout { .. }) => std::future::pending().await,
            answer => answer,
        }
    }
}
