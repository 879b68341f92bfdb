//! The pod and container state machine (containerd's `internal/nri`
//! states): which lifecycle events still have to reach plugins.
//!
//! - A stop reaches plugins only from Created or Running, so whichever of
//!   the runtime's stop, an exit notification, a removal or a failed start
//!   comes first is the one plugins see; later ones are filtered.
//! - A removal reaches plugins from Created, Running or Stopped; removing a
//!   container that was not stopped first delivers the stop.
//! - States are recorded even when plugins fail the event.
//!
//! Unlike containerd, pods listed during a plugin's synchronization are
//! tracked too, so pods that existed before a runtime restart still get
//! their stop and removal (containerd#8426), and a container that exited
//! before any plugin synchronized is remembered as stopped, so plugins
//! learn it as stopped rather than running.

use std::collections::HashMap;
use std::sync::Arc;

use nri_proto::api::ContainerState;

/// Where a pod or container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Created, not started.
    Created,
    /// Running (or paused).
    Running,
    /// Stopped or exited.
    Stopped,
}

impl State {
    /// Whether a stop still has to reach plugins.
    pub fn needs_stopping(self) -> bool {
        matches!(self, State::Created | State::Running)
    }

    /// The state of a container as the runtime lists it, if it is one NRI
    /// tracks.
    pub(crate) fn of_listed(state: i32) -> Option<State> {
        match ContainerState::try_from(state) {
            Ok(ContainerState::ContainerCreated) => Some(State::Created),
            Ok(ContainerState::ContainerRunning | ContainerState::ContainerPaused) => {
                Some(State::Running)
            }
            Ok(ContainerState::ContainerStopped) => Some(State::Stopped),
            _ => None,
        }
    }

    /// The protocol's container state for this state.
    pub(crate) fn to_container_state(self) -> ContainerState {
        match self {
            State::Created => ContainerState::ContainerCreated,
            State::Running => ContainerState::ContainerRunning,
            State::Stopped => ContainerState::ContainerStopped,
        }
    }
}

/// One tracked object.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) state: State,
    /// The domain the object belongs to.
    pub(crate) domain: Arc<str>,
}

/// The states of every tracked pod and container.
#[derive(Debug, Default)]
pub(crate) struct States {
    pods: HashMap<String, Entry>,
    containers: HashMap<String, Entry>,
}

/// Pods or containers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Pod,
    Container,
}

impl States {
    fn map(&mut self, kind: Kind) -> &mut HashMap<String, Entry> {
        match kind {
            Kind::Pod => &mut self.pods,
            Kind::Container => &mut self.containers,
        }
    }

    pub(crate) fn get(&self, kind: Kind, id: &str) -> Option<State> {
        let map = match kind {
            Kind::Pod => &self.pods,
            Kind::Container => &self.containers,
        };
        map.get(id).map(|entry| entry.state)
    }

    /// The domain of a tracked container.
    pub(crate) fn domain_of_container(&self, id: &str) -> Option<Arc<str>> {
        self.containers
            .get(id)
            .map(|entry| Arc::clone(&entry.domain))
    }

    pub(crate) fn set(&mut self, kind: Kind, id: &str, state: State, domain: &Arc<str>) {
        let entry = Entry {
            state,
            domain: Arc::clone(domain),
        };
        // Most calls change a tracked object: update it in place rather
        // than allocate its id again.
        match self.map(kind).get_mut(id) {
            Some(known) => *known = entry,
            None => {
                self.map(kind).insert(id.to_string(), entry);
            }
        }
    }

    pub(crate) fn remove(&mut self, kind: Kind, id: &str) {
        self.map(kind).remove(id);
    }

    /// Records what a listing says about an object NRI does not track yet,
    /// and returns the state NRI holds for it.
    pub(crate) fn seed(
        &mut self,
        kind: Kind,
        id: &str,
        listed: Option<State>,
        domain: &Arc<str>,
    ) -> Option<State> {
        if let Some(known) = self.get(kind, id) {
            return Some(known);
        }
        let state = listed?;
        self.set(kind, id, state, domain);
        Some(state)
    }

    /// Claims the stop of an object: true (and now Stopped) if a stop still
    /// had to reach plugins.
    pub(crate) fn claim_stop(&mut self, kind: Kind, id: &str, domain: &Arc<str>) -> bool {
        let needs = self.get(kind, id).is_some_and(State::needs_stopping);
        if needs {
            self.set(kind, id, State::Stopped, domain);
        }
        needs
    }

    /// Whether a removal still has to reach plugins.
    pub(crate) fn needs_removal(&self, kind: Kind, id: &str) -> bool {
        self.get(kind, id).is_some()
    }

    /// Counts of tracked pods and containers.
    pub(crate) fn len(&self) -> (usize, usize) {
        (self.pods.len(), self.containers.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> Arc<str> {
        Arc::from("k8s.io")
    }

    #[test]
    fn only_the_first_stop_is_claimed() {
        let mut states = States::default();
        states.set(Kind::Container, "c", State::Running, &domain());
        assert!(states.claim_stop(Kind::Container, "c", &domain()));
        assert!(!states.claim_stop(Kind::Container, "c", &domain()));
        assert_eq!(states.get(Kind::Container, "c"), Some(State::Stopped));
        assert!(states.needs_removal(Kind::Container, "c"));
        states.remove(Kind::Container, "c");
        assert!(!states.needs_removal(Kind::Container, "c"));
    }

    #[test]
    fn unknown_objects_need_neither_stop_nor_removal() {
        let mut states = States::default();
        assert!(!states.claim_stop(Kind::Pod, "p", &domain()));
        assert!(!states.needs_removal(Kind::Pod, "p"));
    }

    #[test]
    fn seeding_never_overrides_what_nri_saw() {
        let mut states = States::default();
        states.set(Kind::Container, "c", State::Stopped, &domain());
        let held = states.seed(Kind::Container, "c", Some(State::Running), &domain());
        assert_eq!(held, Some(State::Stopped));
        let fresh = states.seed(
            Kind::Container,
            "d",
            State::of_listed(ContainerState::ContainerPaused as i32),
            &domain(),
        );
        assert_eq!(fresh, Some(State::Running));
        assert_eq!(
            states.seed(Kind::Container, "e", State::of_listed(0), &domain()),
            None
        );
        assert_eq!(states.len(), (0, 2));
    }
}
