//! The filters of ListPodSandbox and ListContainers: every field set must
//! match (ids exactly, every label of the selector with its value).

use std::collections::BTreeMap;

use nri_cri::cri::{ContainerFilter, PodSandboxFilter};

use super::container::FakeContainer;
use super::pod::FakePod;

/// Whether `pod` passes `filter` (no filter passes everything).
pub(crate) fn pod_matches(pod: &FakePod, filter: Option<&PodSandboxFilter>) -> bool {
    let Some(filter) = filter else { return true };
    (filter.id.is_empty() || filter.id == pod.id)
        && filter
            .state
            .as_ref()
            .is_none_or(|state| state.state == pod.state as i32)
        && selected(&pod.config.labels, &filter.label_selector)
}

/// Whether `container` passes `filter` (no filter passes everything).
pub(crate) fn container_matches(
    container: &FakeContainer,
    filter: Option<&ContainerFilter>,
) -> bool {
    let Some(filter) = filter else { return true };
    (filter.id.is_empty() || filter.id == container.id)
        && (filter.pod_sandbox_id.is_empty() || filter.pod_sandbox_id == container.pod_sandbox_id)
        && filter
            .state
            .as_ref()
            .is_none_or(|state| state.state == container.state as i32)
        && selected(&container.config.labels, &filter.label_selector)
}

/// Whether `labels` has every label of `selector`, with its value.
fn selected(labels: &BTreeMap<String, String>, selector: &BTreeMap<String, String>) -> bool {
    selector
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value))
}
