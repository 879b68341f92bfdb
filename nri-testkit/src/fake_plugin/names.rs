//! The pods and containers the plugin has seen, so that scripts can name
//! the target of an update or eviction instead of giving its id.

use nri_core::proto::api::{Container, PodSandbox};

/// Why a container name does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the script names container {name:?}, which the plugin has not seen in Synchronize or an \
     event{known}"
)]
pub struct UnknownContainer {
    /// The name.
    pub name: String,
    /// The names it knows, as a suffix of the message.
    known: String,
}

/// One container seen.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    id: String,
    pod_id: String,
}

/// Containers by name, most recently seen last.
#[derive(Debug, Default)]
pub(crate) struct Names {
    containers: Vec<Seen>,
}

impl Names {
    /// Remembers the containers of a Synchronize.
    pub(crate) fn synchronized(&mut self, containers: &[Container]) {
        for container in containers {
            self.container(container);
        }
    }

    /// Remembers a container (seen again: it becomes the most recent).
    pub(crate) fn container(&mut self, container: &Container) {
        if container.id.is_empty() {
            return;
        }
        self.containers.retain(|seen| seen.id != container.id);
        self.containers.push(Seen {
            name: container.name.clone(),
            id: container.id.clone(),
            pod_id: container.pod_sandbox_id.clone(),
        });
    }

    /// The id of the container named `name`: the one in `pod` if there is
    /// one, else the one seen last.
    pub(crate) fn resolve(
        &self,
        name: &str,
        pod: Option<&PodSandbox>,
    ) -> Result<String, UnknownContainer> {
        let named = || self.containers.iter().rev().filter(|c| c.name == name);
        pod.and_then(|pod| named().find(|c| c.pod_id == pod.id))
            .or_else(|| named().next())
            .map(|c| c.id.clone())
            .ok_or_else(|| {
                let mut names: Vec<&str> =
                    self.containers.iter().map(|c| c.name.as_str()).collect();
                names.sort_unstable();
                names.dedup();
                let known = if names.is_empty() {
                    " (it has seen no container yet)".to_string()
                } else {
                    format!(" (it knows {})", names.join(", "))
                };
                UnknownContainer {
                    name: name.to_string(),
                    known,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn container(id: &str, name: &str, pod: &str) -> Container {
        Container {
            id: id.into(),
            name: name.into(),
            pod_sandbox_id: pod.into(),
            ..Default::default()
        }
    }

    fn pod(id: &str) -> PodSandbox {
        PodSandbox {
            id: id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_events_pod_wins_then_the_latest() {
        let mut names = Names::default();
        names.synchronized(&[container("a1", "web", "p1"), container("b1", "db", "p1")]);
        names.container(&container("a2", "web", "p2"));
        assert_eq!(names.resolve("web", Some(&pod("p1"))).unwrap(), "a1");
        assert_eq!(names.resolve("web", Some(&pod("p2"))).unwrap(), "a2");
        assert_eq!(names.resolve("web", Some(&pod("p9"))).unwrap(), "a2");
        assert_eq!(names.resolve("web", None).unwrap(), "a2");
        // Seen again, a1 becomes the latest.
        names.container(&container("a1", "web", "p1"));
        assert_eq!(names.resolve("web", None).unwrap(), "a1");
        assert_eq!(names.resolve("db", None).unwrap(), "b1");
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let mut names = Names::default();
        let error = names.resolve("web", None).unwrap_err().to_string();
        assert!(
            error.contains("\"web\"") && error.contains("no container yet"),
            "{error}"
        );
        names.synchronized(&[container("b1", "db", "p1"), container("c1", "cache", "p1")]);
        let error = names.resolve("web", None).unwrap_err().to_string();
        assert!(error.ends_with("(it knows cache, db)"), "{error}");
    }
}
