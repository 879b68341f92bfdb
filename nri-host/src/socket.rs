//! The runtime's listening socket: created safely, removed on shutdown.
//!
//! Who may connect is decided here, whatever the process's umask:
//!
//! - The socket gets an explicit mode: 0600 (the runtime's user only,
//!   [`Access::Owner`], the default), or with [`Access::Group`] the given
//!   group and 0660, as containerd's `[grpc] uid/gid` does for its socket.
//!   The mode is set between `bind` and `listen`, so no one can connect
//!   before it holds.
//! - A missing parent directory is created with mode 0700 (0711 with a
//!   group, so the group can reach the socket).
//! - An existing parent directory that others may write to without the
//!   sticky bit is refused ([`SocketError::UnsafeDirectory`]): anyone who
//!   can write there can replace the socket with one of their own. One with
//!   the sticky bit (like `/tmp`) is used, with a warning: others cannot
//!   remove our socket there, but they can take the path before we do.
//!
//! Before binding, whatever is at the path must be a socket owned by our
//! effective user, and no process may be serving on it (a live socket
//! means another runtime, and taking it over would cut that runtime's
//! plugins off). A stale socket is removed. On shutdown the socket file is
//! removed, but only if it is still the one we bound (same device and
//! inode), so a successor's socket survives.
//!
//! Every socket an nri-rs runtime listens on (ttrpc, gRPC, the CRI proxy's)
//! is set up here, so the rules are the same for all of them.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Who may connect to a socket nri-rs listens on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    /// The runtime's own user: mode 0600.
    #[default]
    Owner,
    /// The runtime's user and the members of this group (gid): mode 0660,
    /// group changed to it.
    Group(u32),
}

impl Access {
    /// The socket's mode.
    pub fn socket_mode(self) -> u32 {
        match self {
            Access::Owner => 0o600,
            Access::Group(_) => 0o660,
        }
    }

    /// The mode of a directory created for the socket.
    fn directory_mode(self) -> u32 {
        match self {
            Access::Owner => 0o700,
            Access::Group(_) => 0o711,
        }
    }
}

/// How many connections wait to be accepted before the kernel refuses
/// more.
const BACKLOG: i32 = 128;

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
    /// The parent directory may be written by others (without the sticky
    /// bit), who could then replace the socket.
    #[error(
        "directory {path:?} has mode {mode:o}: others may write to it and replace the socket; \
         use a directory only its owner can write to (or let the runtime create one)"
    )]
    UnsafeDirectory {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
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

/// Prepares `path` by the rules above and binds a listening socket there
/// that only the runtime's user may connect to ([`Access::Owner`]). Must be
/// called inside a tokio runtime.
pub fn bind(path: &Path) -> Result<ListeningSocket, SocketError> {
    bind_with(path, Access::Owner)
}

/// As [`bind`], with `access` deciding who may connect.
pub fn bind_with(path: &Path, access: Access) -> Result<ListeningSocket, SocketError> {
    let parent = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .ok_or_else(|| SocketError::BadPath(path.to_path_buf()))?;
    if path.file_name().is_none() {
        return Err(SocketError::BadPath(path.to_path_buf()));
    }
    if parent.exists() {
        check_directory(parent)?;
    } else {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(access.directory_mode())
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
    let listener = listen(path, access)?;
    let meta = std::fs::symlink_metadata(path).map_err(io("cannot inspect", path))?;
    let listener =
        tokio::net::UnixListener::from_std(listener).map_err(io("cannot register", path))?;
    Ok(ListeningSocket {
        listener,
        path: path.to_path_buf(),
        identity: (meta.dev(), meta.ino()),
    })
}

/// Refuses a directory others may write to, unless it is sticky (then
/// warns).
fn check_directory(dir: &Path) -> Result<(), SocketError> {
    let meta = std::fs::metadata(dir).map_err(io("cannot inspect", dir))?;
    let mode = meta.permissions().mode() & 0o7777;
    let writable_by_others = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    if writable_by_others && !sticky {
        return Err(SocketError::UnsafeDirectory {
            path: dir.to_path_buf(),
            mode,
        });
    }
    if writable_by_others {
        tracing::warn!(
            directory = ?dir,
            mode = format_args!("{mode:o}"),
            "the NRI socket's directory is writable by others (sticky): they cannot \
             remove the socket, but can take its path while the runtime is down"
        );
    }
    Ok(())
}

/// Binds a non-blocking unix socket at `path`, gives it `access`'s mode
/// (and group), and only then listens: a connection attempted before the
/// mode holds is refused by the kernel, not accepted.
fn listen(path: &Path, access: Access) -> Result<std::os::unix::net::UnixListener, SocketError> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|error| io("cannot create a socket for", path)(error.into()))?;
    let address =
        SocketAddrUnix::new(path).map_err(|error| io("cannot use the path", path)(error.into()))?;
    rustix::net::bind(&socket, &address).map_err(|error| io("cannot bind", path)(error.into()))?;
    let restricted = (|| {
        if let Access::Group(gid) = access {
            std::os::unix::fs::lchown(path, None, Some(gid))?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(access.socket_mode()))?;
        rustix::net::listen(&socket, BACKLOG)?;
        Ok(())
    })();
    if let Err(error) = restricted {
        let _ = std::fs::remove_file(path);
        return Err(io("cannot set the mode of, or listen on", path)(error));
    }
    Ok(std::os::unix::net::UnixListener::from(socket))
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
