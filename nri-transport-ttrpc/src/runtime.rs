//! The runtime side: [`TtrpcTransport`] accepts plugins on a unix socket
//! and launches pre-installed plugins, handing nri-core a
//! [`TtrpcConnection`] for each.

mod connection;
mod launch;

use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::Duration;

use nri_core::discovery::Preinstalled;
use nri_core::transport::{Accepted, LaunchError, Origin, Transport};
use tokio::sync::watch;

pub use connection::TtrpcConnection;
pub use nri_core::proto::defaults::DEFAULT_SOCKET_PATH;
use nri_host::Admission;
use nri_host::ListeningSocket;
pub use nri_host::admission::DEFAULT_MAX_UNREGISTERED;
pub use nri_host::{Access, SocketError};

/// Pause after a failed `accept` (e.g. out of file descriptors) before the
/// next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The runtime's ttrpc transport: external plugins dial its socket,
/// pre-installed plugins are launched with a socket on fd 3.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use nri_transport_ttrpc::TtrpcTransport;
///
/// let transport = Arc::new(TtrpcTransport::listen(nri_transport_ttrpc::DEFAULT_SOCKET_PATH)?);
/// // adaptation.start(vec![transport.clone()]).await?; ... adaptation.stop().await;
/// transport.shut_down();
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TtrpcTransport {
    bound: Option<ListeningSocket>,
    /// External connections waiting to register.
    admission: Arc<Admission>,
    shutdown: watch::Sender<bool>,
    plugin_stderr: bool,
    removed: Mutex<bool>,
}

impl TtrpcTransport {
    /// Listens for external plugins on `path`, which only the runtime's
    /// user may connect to (mode 0600 whatever the umask; `nri_host::socket`
    /// says what else is checked first).
    pub fn listen(path: impl AsRef<Path>) -> Result<Self, SocketError> {
        Self::listen_with(path, Access::Owner)
    }

    /// As [`listen`](Self::listen), with `access` deciding who may connect
    /// (e.g. a group, mode 0660).
    pub fn listen_with(path: impl AsRef<Path>, access: Access) -> Result<Self, SocketError> {
        let bound = nri_host::socket::bind_with(path.as_ref(), access)?;
        tracing::info!(path = ?bound.path(), ?access, "listening for NRI plugins");
        Ok(Self::new(Some(bound)))
    }

    /// A transport with external connections disabled: it only launches
    /// pre-installed plugins. Plugins dialing the socket path find nothing.
    pub fn launch_only() -> Self {
        tracing::info!("connections from external plugins disabled");
        Self::new(None)
    }

    fn new(bound: Option<ListeningSocket>) -> Self {
        TtrpcTransport {
            bound,
            admission: Admission::new(DEFAULT_MAX_UNREGISTERED),
            shutdown: watch::channel(false).0,
            plugin_stderr: false,
            removed: Mutex::new(false),
        }
    }

    /// How many connections to the socket may wait to register at once
    /// (default [`DEFAULT_MAX_UNREGISTERED`]): past it, the one that waited
    /// longest is closed (nri-core closes each at the registration timeout
    /// anyway), so a crowd of idle connections cannot keep a plugin out.
    pub fn with_max_unregistered(self, connections: usize) -> Self {
        self.admission.set_capacity(connections);
        self
    }

    /// Lets launched plugins write to the runtime's standard error (by
    /// default it is the null device, as upstream).
    pub fn with_plugin_stderr(mut self, inherit: bool) -> Self {
        self.plugin_stderr = inherit;
        self
    }

    /// The socket path, if external connections are enabled.
    pub fn socket_path(&self) -> Option<&Path> {
        self.bound.as_ref().map(|bound| bound.path())
    }

    /// Stops accepting and removes the socket file. Connections already
    /// made are not touched (nri-core closes them on stop). Idempotent;
    /// also done on drop.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
        let mut removed = self.removed.lock().unwrap_or_else(PoisonError::into_inner);
        if !*removed {
            *removed = true;
            if let Some(bound) = &self.bound {
                bound.remove_file();
            }
        }
    }
}

impl Drop for TtrpcTransport {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Resolves once the transport is shut down.
async fn until_down(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|down| *down).await;
}

#[async_trait::async_trait]
impl Transport for TtrpcTransport {
    async fn accept(&self) -> Option<Accepted> {
        let mut shutdown = self.shutdown.subscribe();
        let Some(bound) = &self.bound else {
            until_down(&mut shutdown).await;
            return None;
        };
        loop {
            let down = *shutdown.borrow();
            if down {
                return None;
            }
            tokio::select! {
                accepted = bound.listener().accept() => match accepted {
                    Ok((stream, _)) => match connection::start(stream, Origin::External, None, Some(&self.admission)) {
                        Ok(accepted) => return Some(accepted),
                        Err(error) => tracing::warn!(%error, "cannot serve a plugin connection"),
                    },
                    Err(error) => {
                        tracing::warn!(%error, "cannot accept a plugin connection");
                        if !(Admission::is_out_of_descriptors(&error) && self.admission.evict_oldest()) {
                            tokio::time::sleep(ACCEPT_BACKOFF).await;
                        }
                    }
                },
                () = until_down(&mut shutdown) => return None,
            }
        }
    }

    async fn launch(&self, plugin: &Preinstalled) -> Result<Accepted, LaunchError> {
        let (stream, process) = launch::spawn(plugin, self.plugin_stderr)?;
        let pid = process.pid();
        tracing::info!(plugin = %plugin.id, pid, path = ?plugin.path, "launched plugin");
        connection::start(stream, Origin::Launched { pid }, Some(process), None).map_err(|error| {
            LaunchError::Failed {
                path: plugin.path.clone(),
                reason: format!("cannot serve its connection: {error}"),
            }
        })
    }
}
