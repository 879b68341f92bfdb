//! The harness of the ttrpc transport with every plugin in a process of its
//! own: the runtime listens on a real unix socket, and each plugin is an
//! `nri-relay-plugin` child process dialing it.
//!
//! The plugin's handler stays in the test process (a scenario inspects it),
//! so the relay forwards. It has two links, both speaking the NRI ttrpc
//! protocol:
//!
//! ```text
//!  runtime under test ──real link──► relay ◄──control link── test process
//!  (TtrpcTransport)       (relay: plugin)      (relay: runtime)  (RuntimeConnection
//!                                                                  serving the handler)
//! ```
//!
//! - On the real link the relay is the plugin: it serves the `Plugin`
//!   service and forwards each call over the control link, where it is the
//!   runtime (it listens with a `TtrpcTransport` and calls
//!   `PluginConnection::call`), to the handler served by the test process's
//!   `RuntimeConnection`; the answer goes back the same way.
//! - The test's `RuntimeRequest`s (RegisterPlugin, UpdateContainers) reach
//!   the relay as the control link's `RuntimeCall`s; the relay makes the
//!   same call on the real link and answers with the runtime's reply.
//! - When either link closes the relay exits, closing the other: a
//!   disconnect, or a handler panic (which closes the control link), makes
//!   the runtime see the plugin's process vanish, and the runtime closing
//!   the real link closes the test's end.
//!
//! The relay prints [`RELAY_READY`] on standard output once it listens on
//! the control socket and is connected to the runtime; the harness waits
//! for that line, then dials the control socket.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nri_core::proto::defaults::PLUGIN_SOCKET_ENV as ENV_PLUGIN_SOCKET;
use nri_core::transport::PluginHandler;
use nri_core::transport::{CallError, Transport};
use nri_transport_ttrpc::{RuntimeConnection, TtrpcTransport};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::harness::{Harness, PluginEnd};

/// Environment variable naming the socket of the runtime the relay dials
/// (ignored when `NRI_PLUGIN_SOCKET` is set: then the relay was launched by
/// the runtime and adopts its socket).
pub const RELAY_RUNTIME_SOCKET: &str = "NRI_RELAY_RUNTIME_SOCKET";

/// Environment variable naming the control socket the relay listens on.
pub const RELAY_CONTROL_SOCKET: &str = "NRI_RELAY_CONTROL_SOCKET";

/// The line the relay prints on standard output once it is ready.
pub const RELAY_READY: &str = "nri-relay-plugin ready";

/// How long a relay may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runtime in this process, every plugin a relay child process.
#[derive(Debug)]
pub struct ProcessHarness {
    relay: PathBuf,
    transport: Arc<TtrpcTransport>,
    socket: PathBuf,
    dir: tempfile::TempDir,
    next: AtomicUsize,
}

impl ProcessHarness {
    /// A harness listening on a fresh socket, starting `relay` (the
    /// `nri-relay-plugin` executable) for every plugin.
    pub fn new(relay: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("nri").join("nri.sock");
        let transport = TtrpcTransport::listen(&socket).map_err(std::io::Error::other)?;
        Ok(ProcessHarness {
            relay: relay.into(),
            transport: Arc::new(transport),
            socket,
            dir,
            next: AtomicUsize::new(0),
        })
    }

    /// The socket relays dial.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Starts a relay for a control socket at `control` and waits until it
    /// says it is ready.
    async fn spawn_relay(&self, control: &Path) -> Result<Child, String> {
        let mut child = Command::new(&self.relay)
            .env_remove(ENV_PLUGIN_SOCKET)
            .env(RELAY_RUNTIME_SOCKET, &self.socket)
            .env(RELAY_CONTROL_SOCKET, control)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("cannot start {:?}: {error}", self.relay))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| "the relay has no standard output".to_string())?;
        let mut line = String::new();
        let mut stdout = BufReader::new(stdout);
        match tokio::time::timeout(READY_TIMEOUT, stdout.read_line(&mut line)).await {
            Ok(Ok(_)) if line.trim_end() == RELAY_READY => Ok(child),
            Ok(Ok(_)) => Err(format!("the relay did not start: it said {line:?}")),
            Ok(Err(error)) => Err(format!("cannot read from the relay: {error}")),
            Err(_) => Err(format!("the relay was not ready within {READY_TIMEOUT:?}")),
        }
    }
}

#[async_trait::async_trait]
impl Harness for ProcessHarness {
    fn name(&self) -> &str {
        "ttrpc-processes"
    }

    fn transport(&self) -> Arc<dyn Transport> {
        Arc::clone(&self.transport) as Arc<dyn Transport>
    }

    async fn connect(
        &self,
        plugin: Arc<dyn PluginHandler>,
    ) -> Result<Box<dyn PluginEnd>, CallError> {
        let closed = |reason: String| CallError::Closed {
            reason: nri_core::transport::CloseReason::Failed(reason),
        };
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let control = self.dir.path().join(format!("control-{n}.sock"));
        let child = self.spawn_relay(&control).await.map_err(closed)?;
        let connection = RuntimeConnection::connect(&control, plugin)
            .await
            .map_err(|error| closed(error.to_string()))?;
        // The relay exits when the control link closes, however it closes;
        // this task reaps it then.
        tokio::spawn(async move {
            let mut child = child;
            let _ = child.wait().await;
        });
        let link: Arc<dyn nri_core::transport::RuntimeLink> = Arc::new(connection);
        Ok(Box::new(link))
    }
}
