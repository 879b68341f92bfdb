//! How many connections may wait to register at once.
//!
//! Anyone who can reach a runtime's socket can open connections that never
//! register; each is closed at the registration timeout, but a crowd of
//! them could hold every descriptor the runtime may open until then, and a
//! real plugin could not get in. [`Admission`] bounds the crowd: each
//! accepted connection takes a [`Ticket`] until it registers (or ends);
//! when the waiting room is full, the connection that has waited longest
//! is closed to make room, and a warning says so. A real plugin registers
//! within milliseconds of connecting, so it is never the oldest for long.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// How many connections may wait to register at once, by default.
pub const DEFAULT_MAX_UNREGISTERED: usize = 64;

/// Closes one waiting connection.
type Close = Box<dyn FnOnce() + Send>;

/// The waiting room of one listening socket.
pub struct Admission {
    capacity: AtomicUsize,
    waiting: Mutex<VecDeque<(u64, Close)>>,
    next: AtomicU64,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("capacity", &self.capacity())
            .field("waiting", &self.waiting().len())
            .finish()
    }
}

impl Admission {
    /// A waiting room for at most `capacity` connections (at least one).
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Admission {
            capacity: AtomicUsize::new(capacity.max(1)),
            waiting: Mutex::new(VecDeque::new()),
            next: AtomicU64::new(0),
        })
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Close)>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many connections may wait at once.
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Changes how many connections may wait at once (at least one), for
    /// connections that enter from now on.
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity.max(1), Ordering::Relaxed);
    }

    /// How many connections wait now.
    pub fn len(&self) -> usize {
        self.waiting().len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lets a new connection wait, with `close` to close it; if the room
    /// is full, the connection that waited longest is closed first.
    pub fn enter(self: &Arc<Self>, close: impl FnOnce() + Send + 'static) -> Ticket {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let evicted = {
            let mut waiting = self.waiting();
            let evicted = (waiting.len() >= self.capacity())
                .then(|| waiting.pop_front())
                .flatten();
            waiting.push_back((id, Box::new(close)));
            evicted
        };
        if let Some((_, close)) = evicted {
            tracing::warn!(
                capacity = self.capacity(),
                "too many connections wait to register; closing the one that waited longest"
            );
            close();
        }
        Ticket {
            id,
            admission: Arc::downgrade(self),
        }
    }

    /// Closes the connection that has waited longest, if any: for when
    /// accepting fails because the process is out of file descriptors, so
    /// a crowd of connections that never register cannot keep the next
    /// one (perhaps a real plugin) out. Returns whether one was closed.
    pub fn evict_oldest(&self) -> bool {
        let oldest = self.waiting().pop_front();
        match oldest {
            Some((_, close)) => {
                tracing::warn!(
                    "out of file descriptors; closing the connection that waited longest to register"
                );
                close();
                true
            }
            None => false,
        }
    }

    /// Whether accepting failed for want of file descriptors (the process's
    /// or the system's), which [`evict_oldest`](Self::evict_oldest) helps.
    pub fn is_out_of_descriptors(error: &std::io::Error) -> bool {
        matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
    }

    fn leave(&self, id: u64) {
        let mut waiting = self.waiting();
        if let Some(at) = waiting.iter().position(|(entry, _)| *entry == id) {
            // Dropped outside the lock: a closure may hold anything.
            let left = waiting.remove(at);
            drop(waiting);
            drop(left);
        }
    }
}

/// A connection's place in the waiting room: [`admit`](Ticket::admit) it
/// once it registered; dropping it (the connection ended) leaves too.
#[derive(Debug)]
pub struct Ticket {
    id: u64,
    admission: Weak<Admission>,
}

impl Ticket {
    /// The connection registered: it no longer waits, and is never closed
    /// to make room.
    pub fn admit(&self) {
        if let Some(admission) = self.admission.upgrade() {
            admission.leave(self.id);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admit();
    }
}

/// A [`Ticket`] kept in a connection's shared state, admitted (once)
/// through a shared reference; `None` for a connection that never waits.
#[derive(Debug, Default)]
pub struct HeldTicket(Mutex<Option<Ticket>>);

impl HeldTicket {
    /// Holds `ticket`.
    pub fn new(ticket: Option<Ticket>) -> Self {
        HeldTicket(Mutex::new(ticket))
    }

    /// Admits the ticket, if it is still held.
    pub fn admit(&self) {
        let ticket = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(ticket) = ticket {
            ticket.admit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> (Arc<AtomicUsize>, impl FnOnce() + Send + 'static) {
        let closed = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&closed);
        (closed, move || {
            count.fetch_add(1, Ordering::Relaxed);
        })
    }

    #[test]
    fn a_full_room_closes_the_longest_waiting_and_admitted_ones_never() {
        let room = Admission::new(2);
        let (first_closed, close) = counter();
        let first = room.enter(close);
        let (second_closed, close) = counter();
        let second = room.enter(close);
        second.admit();
        let (third_closed, close) = counter();
        let _third = room.enter(close);
        assert_eq!(room.len(), 2);
        // Full: the fourth closes the first, not the admitted second.
        let (_, close) = counter();
        let _fourth = room.enter(close);
        assert_eq!(first_closed.load(Ordering::Relaxed), 1);
        assert_eq!(second_closed.load(Ordering::Relaxed), 0);
        assert_eq!(third_closed.load(Ordering::Relaxed), 0);
        assert_eq!(room.len(), 2);
        // An ended connection leaves the room; nothing is closed twice.
        drop(first);
        drop(second);
        assert_eq!(room.len(), 2);
        assert_eq!(first_closed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn out_of_descriptors_the_longest_waiting_is_closed() {
        let room = Admission::new(4);
        let (first_closed, close) = counter();
        let _first = room.enter(close);
        let (second_closed, close) = counter();
        let _second = room.enter(close);
        assert!(room.evict_oldest());
        assert_eq!(first_closed.load(Ordering::Relaxed), 1);
        assert_eq!(second_closed.load(Ordering::Relaxed), 0);
        assert!(room.evict_oldest());
        assert!(!room.evict_oldest());
        assert!(Admission::is_out_of_descriptors(
            &std::io::Error::from_raw_os_error(libc::EMFILE)
        ));
        assert!(!Admission::is_out_of_descriptors(
            &std::io::Error::from_raw_os_error(libc::ECONNABORTED)
        ));
    }

    #[test]
    fn a_dropped_ticket_leaves() {
        let room = Admission::new(1);
        let (closed, close) = counter();
        let ticket = room.enter(close);
        drop(ticket);
        assert!(room.is_empty());
        let (_, close) = counter();
        let _next = room.enter(close);
        assert_eq!(closed.load(Ordering::Relaxed), 0);
    }
}
