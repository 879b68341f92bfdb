//! Launching a pre-installed plugin over ttrpc: its end of a close-on-exec
//! socketpair as fd 3 and upstream's three environment variables
//! (containerd/nri `pkg/adaptation/plugin.go`); the process itself is
//! [`nri_host::Process`], shared with the other transports.

use std::os::fd::{AsRawFd, OwnedFd};

use nri_core::discovery::Preinstalled;
use nri_core::proto::defaults::{
    PLUGIN_IDX_ENV, PLUGIN_NAME_ENV, PLUGIN_SOCKET_ENV, PLUGIN_SOCKET_FD,
};
use nri_core::transport::LaunchError;
use nri_host::Process;

/// Starts `plugin` with its end of a new socketpair as fd 3 and upstream's
/// three variables; returns the runtime's end and the process.
pub(crate) fn spawn(
    plugin: &Preinstalled,
    stderr: bool,
) -> Result<(tokio::net::UnixStream, Process), LaunchError> {
    let failed = |reason: String| LaunchError::Failed {
        path: plugin.path.clone(),
        reason,
    };
    // std creates both ends close-on-exec.
    let (local, peer) = std::os::unix::net::UnixStream::pair()
        .map_err(|error| failed(format!("cannot create a socketpair: {error}")))?;
    let mut peer = OwnedFd::from(peer);
    if peer.as_raw_fd() <= 2 {
        // The child's standard streams are set up before fd 3; keep clear.
        peer = peer
            .try_clone()
            .map_err(|error| failed(format!("cannot duplicate the socket: {error}")))?;
    }
    let index = plugin.id.index();
    let fd = PLUGIN_SOCKET_FD.to_string();
    let env = [
        (PLUGIN_NAME_ENV, plugin.id.name()),
        (PLUGIN_IDX_ENV, index.as_str()),
        (PLUGIN_SOCKET_ENV, fd.as_str()),
    ];
    let process = Process::spawn(plugin, stderr, &env, Some(&peer))?;
    // Our copy of the plugin's end is closed here, once.
    drop(peer);
    let local = local
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixStream::from_std(local))
        .map_err(|error| {
            process.kill();
            failed(error.to_string())
        })?;
    Ok((local, process))
}
