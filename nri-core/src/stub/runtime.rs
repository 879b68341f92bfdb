//! The plugin's calls of the runtime outside of events.

use std::sync::{Arc, Mutex, PoisonError};

use nri_proto::api::{ContainerEviction, ContainerUpdate, UpdateContainersRequest};

use super::StubError;
use crate::transport::{RuntimeLink, RuntimeRequest, RuntimeResponse};

/// Calls the runtime on the plugin's current connection: unsolicited
/// updates and evictions. Cheap to clone; it follows the stub across
/// reconnections.
#[derive(Clone, Default)]
pub struct RuntimeClient {
    link: Arc<Mutex<Option<Arc<dyn RuntimeLink>>>>,
}

impl std::fmt::Debug for RuntimeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeClient")
            .field("connected", &self.current().is_some())
            .finish()
    }
}

impl RuntimeClient {
    fn current(&self) -> Option<Arc<dyn RuntimeLink>> {
        self.link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set(&self, link: Option<Arc<dyn RuntimeLink>>) {
        *self.link.lock().unwrap_or_else(PoisonError::into_inner) = link;
    }

    /// Asks the runtime to update containers and evict others, outside of
    /// any event (upstream's stub cannot send evictions). Returns the
    /// updates the runtime could not apply. Waits, like upstream, until the
    /// runtime answers or the connection ends.
    pub async fn update_containers(
        &self,
        update: Vec<ContainerUpdate>,
        evict: Vec<ContainerEviction>,
    ) -> Result<Vec<ContainerUpdate>, StubError> {
        let link = self.current().ok_or(StubError::NotConnected)?;
        let request = RuntimeRequest::UpdateContainers(UpdateContainersRequest { update, evict });
        match link.call(request, None).await.map_err(StubError::Call)? {
            RuntimeResponse::UpdateContainers(reply) => Ok(reply.failed),
            other => Err(StubError::Call(crate::transport::CallError::Protocol {
                message: format!(
                    "the runtime answered UpdateContainers with a {} reply",
                    other.method_name()
                ),
            })),
        }
    }
}
