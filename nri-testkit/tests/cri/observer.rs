//! A plugin of the tests' own that records what NRI tells it: its first
//! snapshot, and every container stop and removal, in order.

use nri_core::proto::api::{Container, ContainerUpdate, PodSandbox, StopContainerResponse};
use nri_core::stub::{HandlerResult, Plugin};
use tokio::sync::watch;

use super::PATIENCE;

/// What the observer was told.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Synchronize's pods and containers.
    pub snapshot: Option<(Vec<PodSandbox>, Vec<Container>)>,
    /// (event, container) in order.
    pub events: Vec<(&'static str, Container)>,
}

impl Seen {
    /// The events by container id.
    pub fn ids(&self) -> Vec<(&'static str, String)> {
        self.events
            .iter()
            .map(|(e, c)| (*e, c.id.clone()))
            .collect()
    }

    /// The events by container name.
    pub fn names(&self) -> Vec<(&'static str, String)> {
        self.events
            .iter()
            .map(|(e, c)| (*e, c.name.clone()))
            .collect()
    }
}

/// The observing plugin; read what it saw from the sender's receivers.
pub struct Observer {
    pub seen: watch::Sender<Seen>,
}

#[nri_core::plugin]
impl Plugin for Observer {
    async fn synchronize(
        &self,
        pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> HandlerResult<Vec<ContainerUpdate>> {
        self.seen
            .send_modify(|s| s.snapshot = Some((pods, containers)));
        Ok(Vec::new())
    }

    async fn stop_container(
        &self,
        _pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<StopContainerResponse> {
        self.seen
            .send_modify(|s| s.events.push(("StopContainer", container)));
        Ok(StopContainerResponse::default())
    }

    async fn remove_container(&self, _pod: PodSandbox, container: Container) -> HandlerResult<()> {
        self.seen
            .send_modify(|s| s.events.push(("RemoveContainer", container)));
        Ok(())
    }
}

/// Waits until `done` holds of what the observer saw; returns it.
pub async fn await_seen(
    seen: &mut watch::Receiver<Seen>,
    what: &str,
    done: impl FnMut(&Seen) -> bool,
) -> Seen {
    let waited = tokio::time::timeout(PATIENCE, seen.wait_for(done))
        .await
        .map(|r| r.map(|s| s.clone()));
    match waited {
        Ok(Ok(seen)) => seen,
        _ => panic!("the observer waited for {what}: {:?}", *seen.borrow()),
    }
}
