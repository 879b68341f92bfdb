//! What every nri-rs transport needs from the operating system.
//!
//! The ttrpc and the gRPC transport differ in what they speak on a
//! connection, not in how a runtime owns its socket or starts its plugins;
//! this crate holds that common part, so both apply the same rules:
//!
//! - [`socket`]: the runtime's listening unix socket: an explicit mode
//!   whatever the umask (0600, or 0660 for a group), the directory created
//!   0700 when missing and refused when others may write to it, a stale
//!   socket of ours replaced, a live or foreign one refused, and the file
//!   removed on stop (only if it is still the one we bound);
//! - [`launch`]: a pre-installed plugin's process: started with a cleared
//!   environment and no arguments, optionally with a socket as fd 3, ended
//!   with SIGTERM, a grace period and SIGKILL, and always reaped;
//! - [`admission`]: a bound on connections that have not registered yet
//!   (the one that waited longest is closed to make room);
//! - [`fd`]: the only raw file-descriptor handling: passing a socket to a
//!   child as fd 3, and a launched plugin adopting it.
//!
//! The well-known names and defaults (environment variables, the fd number,
//! socket paths) are defined once, in `nri_proto::defaults`.

pub mod admission;
pub mod fd;
pub mod launch;
pub mod socket;

pub use admission::{Admission, HeldTicket, Ticket};
pub use fd::AdoptError;
pub use launch::Process;
pub use socket::{Access, ListeningSocket, SocketError};
