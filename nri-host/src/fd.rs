//! The two places nri-rs handles raw file descriptors: adopting the
//! socket a runtime passed to a plugin it launched, and passing that socket
//! to a child as fd 3. Everything else uses owned, close-on-exec sockets, so
//! each descriptor is closed exactly once (containerd#8860 was a double
//! close of a plugin's socket).
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// The fd a launched plugin finds its socket on.
pub const PLUGIN_FD: RawFd = nri_core::proto::defaults::PLUGIN_SOCKET_FD;

/// Whether this process already adopted an inherited socket.
static ADOPTED: AtomicBool = AtomicBool::new(false);

/// Why an inherited socket cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdoptError {
    /// The variable is not a file descriptor number.
    #[error("NRI_PLUGIN_SOCKET={0:?} is not a file descriptor number")]
    NotANumber(String),
    /// Standard input, output and error are never adopted.
    #[error("NRI_PLUGIN_SOCKET names fd {0}, which is standard input, output or error")]
    Stdio(RawFd),
    /// The socket was adopted already; it can be taken only once.
    #[error("the inherited plugin socket was already taken by this process")]
    AlreadyAdopted,
    /// No such open descriptor.
    #[error("fd {0} named by NRI_PLUGIN_SOCKET is not open")]
    NotOpen(RawFd),
    /// The descriptor is not a stream socket.
    #[error("fd {0} named by NRI_PLUGIN_SOCKET is not a stream socket")]
    NotAStreamSocket(RawFd),
}

/// Takes ownership of the inherited socket named by `value` (the value of
/// `NRI_PLUGIN_SOCKET`). Works once per process; the descriptor is checked
/// to be an open stream socket and marked close-on-exec, so the plugin's own
/// children do not inherit it.
pub fn adopt(value: &str) -> Result<std::os::unix::net::UnixStream, AdoptError> {
    let fd: RawFd = value
        .trim()
        .parse()
        .map_err(|_| AdoptError::NotANumber(value.to_string()))?;
    if (0..=2).contains(&fd) {
        return Err(AdoptError::Stdio(fd));
    }
    if fd < 0 {
        return Err(AdoptError::NotOpen(fd));
    }
    if ADOPTED.swap(true, Ordering::AcqRel) {
        return Err(AdoptError::AlreadyAdopted);
    }
    // SAFETY: F_GETFD only reads the descriptor's flags; it fails with EBADF
    // for a descriptor that is not open, touching nothing.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        ADOPTED.store(false, Ordering::Release);
        return Err(AdoptError::NotOpen(fd));
    }
    // SAFETY: the descriptor is open, the runtime handed it to this process
    // for exactly this purpose, and ADOPTED guarantees that no other owner
    // is created for it in this process.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let is_stream = rustix::net::sockopt::socket_type(&owned)
        .map(|kind| kind == rustix::net::SocketType::STREAM)
        .unwrap_or(false);
    if !is_stream {
        // Not ours to close: give the descriptor back untouched.
        let _ = owned.into_raw_fd();
        return Err(AdoptError::NotAStreamSocket(fd));
    }
    let _ = rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC);
    Ok(std::os::unix::net::UnixStream::from(owned))
}

/// Arranges for `socket` to be fd 3 in the child `command` starts, without
/// close-on-exec there, and for no other descriptor above 2 to survive the
/// exec; in this process it stays close-on-exec and owned by
/// the caller, who drops it after the spawn.
///
/// `socket` must not be fd 0, 1 or 2 (the child's standard streams are set
/// up first); [`std::os::fd::OwnedFd::try_clone`] gives a copy at 3 or
/// above when needed.
pub fn pass_as_plugin_fd(command: &mut tokio::process::Command, socket: &OwnedFd) {
    let raw = socket.as_raw_fd();
    let setup = move || -> std::io::Result<()> {
        // Only async-signal-safe calls here: this runs between fork and exec.
        if raw == PLUGIN_FD {
            // SAFETY: clears FD_CLOEXEC on fd 3, which is open (it is `socket`).
            if unsafe { libc::fcntl(PLUGIN_FD, libc::F_SETFD, 0) } == -1 {
                return Err(std::io::Error::last_os_error());
            }
        } else {
            // SAFETY: `raw` is open in the child (inherited from the parent,
            // closed only at exec); dup2 makes fd 3 a copy without
            // FD_CLOEXEC, replacing whatever fd 3 was in the child.
            if unsafe { libc::dup2(raw, PLUGIN_FD) } == -1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        // Descriptors the runtime itself inherited without close-on-exec
        // must not reach the plugin: mark everything above fd 3 close-on-exec
        // (std's own exec-error pipe already is). Kernels before 5.11 lack
        // the flag; then the first 4096 are marked one by one.
        // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
        let marked = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                PLUGIN_FD + 1,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if marked != 0 {
            for fd in (PLUGIN_FD + 1)..4096 {
                // SAFETY: F_SETFD on a descriptor that may not be open; EBADF
                // is ignored.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
        Ok(())
    };
    // SAFETY: the closure only calls fcntl, dup2 and close_range, which are async-signal-safe,
    // and allocates nothing.
    unsafe {
        command.pre_exec(setup);
    }
}
