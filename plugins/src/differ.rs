//! `nri-differ`: shows what the plugins between two indices change (upstream's
//! differ sample).
//!
//! One process registers several instances of the plugin, one per index
//! (default `0` and `99`); every instance sees every event. For each event,
//! each instance after the first compares the pod and container it was sent
//! with what the instance before it was sent, and reports the difference:
//! the changes made by the plugins registered between those two indices
//! (containers being created reach each plugin as adjusted by the plugins
//! before it). Objects are compared as YAML, as upstream's are (see
//! [`crate::yaml`]), line by line.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use nri_core::proto::api::{
    Container, ContainerUpdate, CreateContainerResponse, LinuxResources, PodSandbox,
    StopContainerResponse, UpdateContainerResponse, UpdatePodSandboxRequest,
};
use nri_core::stub::{HandlerResult, Plugin};

use crate::yaml;

/// What the instances of one process share.
pub struct Chain {
    /// The indices, in registration order.
    indices: Vec<String>,
    /// How much to print: 0 changes only, 1 also each event, 2 also
    /// unchanged events, 3 also every object seen.
    verbosity: u8,
    /// Per event and object: what each instance saw, until the last one.
    seen: Mutex<HashMap<String, Vec<Option<String>>>>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("indices", &self.indices)
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// A chain of instances at `indices`, printing to `out`.
    pub fn new(indices: Vec<String>, verbosity: u8, out: Box<dyn Write + Send>) -> Arc<Chain> {
        Arc::new(Chain {
            indices,
            verbosity,
            seen: Mutex::new(HashMap::new()),
            out: Mutex::new(out),
        })
    }

    /// The instance at position `position` of the chain.
    pub fn instance(self: &Arc<Self>, position: usize) -> Differ {
        Differ {
            chain: Arc::clone(self),
            position,
        }
    }

    fn print(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// Records what instance `position` saw of `subject` in `event`, and
    /// reports the difference from the instance before it.
    fn saw(&self, position: usize, event: &str, subject: &str, object: String) {
        let count = self.indices.len();
        let previous = {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let key = format!("{event} {subject}");
            let views = seen.entry(key.clone()).or_insert_with(|| vec![None; count]);
            let previous = position
                .checked_sub(1)
                .and_then(|p| views.get(p).cloned().flatten());
            if let Some(view) = views.get_mut(position) {
                *view = Some(object.clone());
            }
            if position + 1 == count {
                seen.remove(&key);
            }
            previous
        };
        let index = |p: usize| self.indices.get(p).map_or("?", String::as_str);
        if self.verbosity >= 3 {
            self.print(&format!(
                "{event} {subject} at {}:\n{object}\n",
                index(position)
            ));
        } else if self.verbosity >= 1 {
            self.print(&format!("{event} {subject} at {}\n", index(position)));
        }
        let Some(previous) = previous else {
            return;
        };
        let changes = line_diff(&previous, &object);
        if changes.is_empty() {
            if self.verbosity >= 2 {
                self.print(&format!(
                    "{event} {subject}: no changes between {} and {}\n",
                    index(position - 1),
                    index(position)
                ));
            }
            return;
        }
        let mut text = format!(
            "{event} {subject}: changes between {} and {}:\n",
            index(position - 1),
            index(position)
        );
        for line in changes {
            text.push_str(&line);
            text.push('\n');
        }
        self.print(&text);
    }
}

/// The lines only in `a` (as `- line`) and only in `b` (as `+ line`), in
/// order (a removed line before the line that replaces it), from a longest
/// common subsequence of their lines.
pub fn line_diff(a: &str, b: &str) -> Vec<String> {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    // Skip the common head and tail: objects differ in a few lines.
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] > lcs[i + 1][j]) {
            out.push(format!("+ {}", b[j]));
            j += 1;
        } else {
            out.push(format!("- {}", a[i]));
            i += 1;
        }
    }
    out
}

/// One instance of the differ.
#[derive(Debug)]
pub struct Differ {
    chain: Arc<Chain>,
    position: usize,
}

/// `object` as YAML, or what kept it from being shown.
pub fn show<M: prost::Message + prost::Name>(object: &M) -> String {
    yaml::message(object)
        .and_then(|value| yaml::to_yaml(&value))
        .unwrap_or_else(|error| format!("failed to dump object: {error}\n"))
}

impl Differ {
    fn pod(&self, event: &str, pod: &PodSandbox) {
        self.chain
            .saw(self.position, event, &format!("pod {}", pod.id), show(pod));
    }

    fn container(&self, event: &str, pod: &PodSandbox, container: &Container) {
        self.chain.saw(
            self.position,
            event,
            &format!("pod {} container {}", pod.id, container.id),
            format!("pod:\n{}container:\n{}", show(pod), show(container)),
        );
    }
}

#[nri_core::plugin]
impl Plugin for Differ {
    async fn synchronize(
        &self,
        pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> HandlerResult<Vec<ContainerUpdate>> {
        for pod in &pods {
            self.pod("Synchronize", pod);
        }
        for container in &containers {
            self.chain.saw(
                self.position,
                "Synchronize",
                &format!("container {}", container.id),
                show(container),
            );
        }
        Ok(Vec::new())
    }

    async fn run_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.pod("RunPodSandbox", &pod);
        Ok(())
    }

    async fn update_pod_sandbox(&self, request: UpdatePodSandboxRequest) -> HandlerResult<()> {
        self.pod("UpdatePodSandbox", &request.pod.unwrap_or_default());
        Ok(())
    }

    async fn post_update_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.pod("PostUpdatePodSandbox", &pod);
        Ok(())
    }

    async fn stop_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.pod("StopPodSandbox", &pod);
        Ok(())
    }

    async fn remove_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.pod("RemovePodSandbox", &pod);
        Ok(())
    }

    async fn create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        self.container("CreateContainer", &pod, &container);
        Ok(CreateContainerResponse::default())
    }

    async fn post_create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        self.container("PostCreateContainer", &pod, &container);
        Ok(())
    }

    async fn start_container(&self, pod: PodSandbox, container: Container) -> HandlerResult<()> {
        self.container("StartContainer", &pod, &container);
        Ok(())
    }

    async fn post_start_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        self.container("PostStartContainer", &pod, &container);
        Ok(())
    }

    async fn update_container(
        &self,
        pod: PodSandbox,
        container: Container,
        _resources: Option<LinuxResources>,
    ) -> HandlerResult<UpdateContainerResponse> {
        self.container("UpdateContainer", &pod, &container);
        Ok(UpdateContainerResponse::default())
    }

    async fn post_update_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        self.container("PostUpdateContainer", &pod, &container);
        Ok(())
    }

    async fn stop_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<StopContainerResponse> {
        self.container("StopContainer", &pod, &container);
        Ok(StopContainerResponse::default())
    }

    async fn remove_container(&self, pod: PodSandbox, container: Container) -> HandlerResult<()> {
        self.container("RemoveContainer", &pod, &container);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_shows_removed_and_added_lines_in_order() {
        let a = "a\nb\nc\nd\n";
        let b = "a\nB\nc\nd\ne\n";
        assert_eq!(line_diff(a, b), ["- b", "+ B", "+ e"]);
        assert!(line_diff(a, a).is_empty());
        assert_eq!(line_diff("", "x"), ["+ x"]);
        assert_eq!(line_diff("x", ""), ["- x"]);
    }

    #[test]
    fn objects_are_shown_as_yaml() {
        let mut container = Container {
            id: "c1".into(),
            annotations: [("a".to_string(), "1".to_string())].into(),
            ..Default::default()
        };
        let before = show(&container);
        let back: serde_json::Value = serde_saphyr::from_str(&before).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"id": "c1", "annotations": {"a": "1"}})
        );
        container.annotations.insert("a".into(), "2".into());
        let changes = line_diff(&before, &show(&container));
        // A string that looks like a number is quoted, as in Go's YAML.
        assert_eq!(changes, [r#"-   a: "1""#, r#"+   a: "2""#]);
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn consecutive_instances_report_what_changed_between_them() {
        let out = Buffer::default();
        let chain = Chain::new(
            vec!["00".into(), "50".into(), "99".into()],
            0,
            Box::new(out.clone()),
        );
        chain.saw(0, "CreateContainer", "c1", "env: []".into());
        chain.saw(1, "CreateContainer", "c1", "env: []".into());
        chain.saw(2, "CreateContainer", "c1", "env: [X=1]".into());
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "CreateContainer c1: changes between 50 and 99:\n- env: []\n+ env: [X=1]\n"
        );
        // The last instance's view ends the record.
        assert!(chain.seen.lock().unwrap().is_empty());
    }
}
