//! A plugin of the test's own that records what NRI tells it.

use nri_core::proto::api::{Container, ContainerUpdate, PodSandbox, StopContainerResponse};
use nri_core::stub::{HandlerResult, Plugin};
use tokio::sync::watch;

use crate::cri::PATIENCE;

#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub snapshot: Option<Vec<Container>>,
    /// (event, container name) in order.
    pub events: Vec<(&'static str, String)>,
}

/// A plugin of the test's own that records what NRI tells it.
pub struct Observer {
    pub seen: watch::Sender<Seen>,
}

#[nri_core::plugin]
impl Plugin for Observer {
    async fn synchronize(
        &self,
        _pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> HandlerResult<Vec<ContainerUpdate>> {
        self.seen.send_modify(|s| s.snapshot = Some(containers));
        Ok(Vec::new())
    }

    async fn start_container(&self, _pod: PodSandbox, container: Container) -> HandlerResult<()> {
        self.seen
            .send_modify(|s| s.events.push(("StartContainer", container.name)));
        Ok(())
    }

    async fn stop_container(
        &self,
        _pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<StopContainerResponse> {
        self.seen
            .send_modify(|s| s.events.push(("StopContainer", container.name)));
        Ok(StopContainerResponse::default())
    }

    async fn remove_container(&self, _pod: PodSandbox, container: Container) -> HandlerResult<()> {
        self.seen
            .send_modify(|s| s.events.push(("RemoveContainer", container.name)));
        Ok(())
    }
}

pub async fn await_seen(
    seen: &mut watch::Receiver<Seen>,
    what: &str,
    done: impl FnMut(&Seen) -> bool,
) {
    let waited = tokio::time::timeout(PATIENCE, seen.wait_for(done))
        .await
        .map(|r| r.is_ok());
    assert!(
        waited == Ok(true),
        "the observer waited for {what}: {:?}",
        *seen.borrow()
    );
}
