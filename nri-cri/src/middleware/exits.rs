//! Finding container exits by listing containers, for runtimes that do not
//! report them (a CRI proxy cannot see the runtime's exit events).

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinHandle;
use tonic::Request;

use super::NriRuntimeService;
use crate::cri;
use crate::cri::runtime_service_server::RuntimeService;

/// Lists the inner service's containers every interval, and at once after
/// the middleware evicted one, and reports every container that went from
/// created or running to exited. Stops when dropped.
#[derive(Debug)]
pub struct ExitWatcher {
    task: JoinHandle<()>,
}

impl Drop for ExitWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<S: RuntimeService> NriRuntimeService<S> {
    /// Starts watching for exits. The containers that exist now are the
    /// baseline (one listing, done before this returns): those already
    /// exited are not reported, those running are from then on.
    pub async fn watch_exits(&self, interval: Duration) -> ExitWatcher {
        let mut last = self.container_states().await.unwrap_or_default();
        let service = self.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = service.shared.nudged() => {}
                }
                // While the runtime cannot be listed (it restarts, say),
                // the last listing stays the baseline: an exit in between
                // is found by the first listing that succeeds.
                let Some(now) = service.container_states().await else {
                    continue;
                };
                for (id, state) in &now {
                    if *state != cri::ContainerState::ContainerExited {
                        continue;
                    }
                    let was_live = match last.get(id) {
                        Some(before) => *before != cri::ContainerState::ContainerExited,
                        None => service.nri_tracks_live(id),
                    };
                    if was_live {
                        service.container_exited(id).await;
                    }
                }
                last = now;
            }
        });
        ExitWatcher { task }
    }

    /// Every container's state by runtime id; `None` if listing fails.
    async fn container_states(&self) -> Option<HashMap<String, cri::ContainerState>> {
        let request = Request::new(cri::ListContainersRequest::default());
        match self.inner().list_containers(request).await {
            Ok(response) => Some(
                response
                    .into_inner()
                    .containers
                    .into_iter()
                    .map(|c| {
                        let state = c.state();
                        (c.id, state)
                    })
                    .collect(),
            ),
            Err(status) => {
                tracing::warn!(%status, "listing containers to find exits failed");
                None
            }
        }
    }

    /// Whether NRI holds the container as created or running.
    fn nri_tracks_live(&self, cri_id: &str) -> bool {
        let nri_id = self.shared.nri_id_of(cri_id);
        self.api
            .container_state(&nri_id)
            .is_some_and(|state| state.needs_stopping())
    }
}
