//! The runtime's listening socket: created safely, removed on shutdown.
//!
//! Before binding: the parent directory is created with mode 0700 when
//! missing (an existing directory keeps its mode, as upstream); whatever is
//! at the path must be a socket owned by our effective user, and no process
//! may be serving on it (a live socket means another runtime, and taking
//! it over would cut that runtime's plugins off). A stale socket is removed.
//! On shutdown the socket file is removed, but only if it is still the one
//! we bound (same device and inode), so a successor's socket survives.
//!
//! Every socket an nri-rs runtime listens on (ttrpc, gRPC, the CRI proxy's)
//! is set up here, so the rules are the same for all of them.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Why the runtime's socket cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// The path exists and is not a socket.
    #[error("{0:?} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    /// The socket belongs to another user.
    #[error("socket {path:?} belongs to uid {owner}, not to us (uid {us}); refusing to replace it")]
    NotOurs {
        /// The path.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our effective uid.
        us: u32,
    },
    /// Another process serves on the socket.
    #[error("socket {0:?} is in use by another process")]
    InUse(PathBuf),
    /// The path has no parent directory or no file name.
    #[error("{0:?} is not a usable socket path")]
    BadPath(PathBuf),
    /// A filesystem or socket call failed.
    #[error("{what} {path:?}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SocketError + 'a {
    move |source| SocketError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// A runtime's listening socket and the identity of its file (removed by
/// [`ListeningSocket::remove_file`], not on drop: a runtime decides when
/// its socket disappears).
#[derive(Debug)]
pub struct ListeningSocket {
    listener: tokio::net::UnixListener,
    path: PathBuf,
    identity: (u64, u64),
}

/// Prepares `path` by the rules above and binds a listening socket there.
/// Must be called inside a tokio runtime.
pub fn bind(path: &Path) -> Result<ListeningSocket, SocketError> {
    let parent = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .ok_or_else(|| SocketError::BadPath(path.to_path_buf()))?;
    if path.file_name().is_none() {
        return Err(SocketError::BadPath(path.to_path_buf()));
    }
    if !parent.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io("cannot create the directory", parent))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            if !meta.file_type().is_socket() {
                return Err(SocketError::NotASocket(path.to_path_buf()));
            }
            let us = rustix::process::geteuid().as_raw();
            if meta.uid() != us {
                return Err(SocketError::NotOurs {
                    path: path.to_path_buf(),
                    owner: meta.uid(),
                    us,
                });
            }
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(SocketError::InUse(path.to_path_buf()));
            }
            std::fs::remove_file(path).map_err(io("cannot remove the stale socket", path))?;
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io("cannot inspect", path)(error)),
    }
    let listener =
        std::os::unix::net::UnixListener::bind(path).map_err(io("cannot listen on", path))?;
    listener
        .set_nonblocking(true)
        .map_err(io("cannot configure", path))?;
    let meta = std::fs::symlink_metadata(path).map_err(io("cannot inspect", path))?;
    let listener =
        tokio::net::UnixListener::from_std(listener).map_err(io("cannot register", path))?;
    Ok(ListeningSocket {
        listener,
        path: path.to_path_buf(),
        identity: (meta.dev(), meta.ino()),
    })
}

impl ListeningSocket {
    /// The listening socket.
    pub fn listener(&self) -> &tokio::net::UnixListener {
        &self.listener
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the socket file if it is still ours.
    pub fn remove_file(&self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .map(|meta| (meta.dev(), meta.ino()) == self.identity)
            .unwrap_or(false);
        if ours && let Err(error) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = ?self.path, %error, "cannot remove the NRI socket");
        }
    }
}
