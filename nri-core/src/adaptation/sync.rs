//! Synchronizing a plugin with every pod and container, split into several
//! messages when one would pass the message size limit.
//!
//! The split follows upstream (containerd/nri `pkg/adaptation/plugin.go`,
//! its synchronization): when the whole state
//! does not fit, the number of pods and containers per message is scaled by
//! `min(limit / size, 0.9)`, with a floor of 4 pods + 4 containers, until
//! every message fits; a state that does not fit even at 8 objects per
//! message fails. Upstream learns the size from ttrpc's "oversized message"
//! error after a failed send; nri-core computes the encoded sizes up front,
//! so every transport splits the same way and nothing is sent twice. Every
//! message but the last has `more` set, and the plugin must answer those
//! with `more` set and no updates. All messages share one request timeout.
//!
//! Each pod and container is encoded once, as the runtime lends it to a
//! [`Listing`]; the messages are slices of those bytes, byte for byte what
//! encoding the owned `SynchronizeRequest`s would give.

use std::time::{Duration, Instant};

use nri_proto::api::{Container, ContainerUpdate, PodSandbox};
use prost::Message;

use super::backend::Snapshot;
use super::error::SyncError;
use super::metrics;
use super::plugin::Plugin;
use crate::transport::{EncodedSynchronize, SynchronizeRef};

/// Room left in each message for the RPC envelope around the request
/// (ttrpc's service and method names, timeout and framing).
pub(crate) const ENVELOPE: usize = 256;

/// Fewest objects per message before the split gives up.
const MIN_OBJECTS: usize = 8;

/// Field numbers of `SynchronizeRequest.pods` and `.containers`.
const PODS: u32 = 1;
const CONTAINERS: u32 = 2;

/// The runtime's pods and containers for a plugin's synchronization, each
/// encoded once, as it is listed, into the bytes Synchronize messages carry.
///
/// A runtime lends its pods and containers to a listing
/// ([`RuntimeBackend::list_into`](super::RuntimeBackend::list_into),
/// [`Domain::list_into`](crate::runtime_api::Domain::list_into)): nothing
/// is copied but into these bytes, and the messages sent are slices of them.
#[derive(Default)]
pub struct Listing<'a> {
    pods: Entries,
    containers: Entries,
    seen: Option<&'a (dyn Seen + 'a)>,
}

/// What NRI itself knows of listed objects (the runtime API layer's
/// states), consulted as they are listed.
pub(crate) trait Seen: Send + Sync {
    /// A pod was listed.
    fn pod(&self, pod: &PodSandbox);
    /// A container was listed; the state plugins must be told, if NRI
    /// knows better than the listing.
    fn container(&self, container: &Container) -> Option<i32>;
}

/// Encoded entries of one repeated field, back to back.
#[derive(Default)]
struct Entries {
    bytes: Vec<u8>,
    /// Where each entry ends in `bytes`.
    ends: Vec<usize>,
}

impl Entries {
    fn push<M: Message>(&mut self, tag: u32, message: &M) {
        prost::encoding::message::encode(tag, message, &mut self.bytes);
        self.ends.push(self.bytes.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Encoded size of each entry.
    fn sizes(&self) -> Vec<usize> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let size = end - start;
                start = end;
                size
            })
            .collect()
    }

    /// The bytes of the entries of message `i` (at most `per` of them).
    fn window(&self, i: usize, per: usize) -> &[u8] {
        let entries = window_range(self.len(), i, per);
        // Where the entry before a position ends, the start for the first.
        let end_before = |entry: usize| entry.checked_sub(1).map_or(0, |j| self.ends[j]);
        &self.bytes[end_before(entries.start)..end_before(entries.end)]
    }
}

impl std::fmt::Debug for Listing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listing")
            .field("pods", &self.pods.len())
            .field("containers", &self.containers.len())
            .field(
                "bytes",
                &(self.pods.bytes.len() + self.containers.bytes.len()),
            )
            .finish()
    }
}

impl<'a> Listing<'a> {
    /// An empty listing.
    pub fn new() -> Self {
        Listing::default()
    }

    /// An empty listing that tells `seen` what is listed.
    pub(crate) fn seen_by(seen: &'a (dyn Seen + 'a)) -> Self {
        Listing {
            seen: Some(seen),
            ..Listing::default()
        }
    }

    /// Lists a pod.
    pub fn pod(&mut self, pod: &PodSandbox) {
        if let Some(seen) = self.seen {
            seen.pod(pod);
        }
        self.pods.push(PODS, pod);
    }

    /// Lists a container.
    pub fn container(&mut self, container: &Container) {
        match self.seen.and_then(|seen| seen.container(container)) {
            Some(state) if state != container.state => {
                // Rare: what NRI saw (an exit during startup, say) wins
                // over a store that has not caught up yet.
                let corrected = Container {
                    state,
                    ..container.clone()
                };
                self.containers.push(CONTAINERS, &corrected);
            }
            _ => self.containers.push(CONTAINERS, container),
        }
    }

    /// Lists every pod and container of `snapshot`.
    pub fn extend(&mut self, snapshot: &Snapshot) {
        snapshot.pods.iter().for_each(|pod| self.pod(pod));
        snapshot.containers.iter().for_each(|c| self.container(c));
    }

    /// How many pods and containers were listed.
    pub fn len(&self) -> (usize, usize) {
        (self.pods.len(), self.containers.len())
    }

    /// Whether nothing was listed.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

    /// Appends what `other` listed, in order.
    pub(crate) fn append(&mut self, other: Listing<'_>) {
        for (into, from) in [
            (&mut self.pods, other.pods),
            (&mut self.containers, other.containers),
        ] {
            if into.ends.is_empty() {
                (into.bytes, into.ends) = (from.bytes, from.ends);
            } else {
                let offset = into.bytes.len();
                into.bytes.extend_from_slice(&from.bytes);
                into.ends.extend(from.ends.iter().map(|end| end + offset));
            }
        }
    }

    /// The messages to send, each encoding to at most `limit` bytes
    /// (envelope included).
    pub(crate) fn split(&self, limit: usize) -> Result<Vec<EncodedSynchronize<'_>>, SyncError> {
        let (per_pod, per_ctr) = split_counts(&self.pods.sizes(), &self.containers.sizes(), limit)?;
        let messages = count(self.pods.len(), per_pod)
            .max(count(self.containers.len(), per_ctr))
            .max(1);
        Ok((0..messages)
            .map(|i| EncodedSynchronize {
                pods: self.pods.window(i, per_pod),
                containers: self.containers.window(i, per_ctr),
                more: i + 1 < messages,
            })
            .collect())
    }
}

/// How many pods and how many containers go in each message so that every
/// message fits in `limit`, given each object's encoded entry size.
fn split_counts(
    pod_sizes: &[usize],
    ctr_sizes: &[usize],
    limit: usize,
) -> Result<(usize, usize), SyncError> {
    let (mut per_pod, mut per_ctr) = (pod_sizes.len(), ctr_sizes.len());
    let mut largest = message_len(pod_sizes, ctr_sizes, per_pod, per_ctr);
    while largest > limit {
        if per_pod + per_ctr <= MIN_OBJECTS {
            return Err(SyncError::TooLarge { limit });
        }
        let factor = (limit as f64 / largest as f64).min(0.9);
        per_pod = (per_pod as f64 * factor) as usize;
        per_ctr = (per_ctr as f64 * factor) as usize;
        if per_pod + per_ctr < MIN_OBJECTS {
            (per_pod, per_ctr) = (MIN_OBJECTS / 2, MIN_OBJECTS / 2);
        }
        largest = message_len(pod_sizes, ctr_sizes, per_pod, per_ctr);
    }
    Ok((per_pod, per_ctr))
}

/// The largest message when sending `per_pod` pods and `per_ctr` containers
/// per message.
fn message_len(pods: &[usize], ctrs: &[usize], per_pod: usize, per_ctr: usize) -> usize {
    let messages = count(pods.len(), per_pod)
        .max(count(ctrs.len(), per_ctr))
        .max(1);
    (0..messages)
        .map(|i| {
            let more = if i + 1 < messages { 2 } else { 0 };
            window(pods, i, per_pod).iter().sum::<usize>()
                + window(ctrs, i, per_ctr).iter().sum::<usize>()
                + more
                + ENVELOPE
        })
        .max()
        .unwrap_or(ENVELOPE)
}

/// How many messages `len` objects need at `per` per message.
fn count(len: usize, per: usize) -> usize {
    if len == 0 {
        0
    } else {
        len.div_ceil(per.max(1))
    }
}

/// The objects of message `i`.
fn window<T>(items: &[T], i: usize, per: usize) -> &[T] {
    &items[window_range(items.len(), i, per)]
}

/// Which of `len` objects go in message `i`, at `per` per message.
fn window_range(len: usize, i: usize, per: usize) -> std::ops::Range<usize> {
    let per = per.max(1);
    let start = i.saturating_mul(per).min(len);
    let end = start.saturating_add(per).min(len);
    start..end
}

/// Synchronizes one plugin with what was listed; returns the updates it
/// asked for.
pub(crate) async fn synchronize(
    plugin: &Plugin,
    listing: &Listing<'_>,
    timeout: Duration,
    limit: usize,
) -> Result<Vec<ContainerUpdate>, SyncError> {
    let started = Instant::now();
    for message in listing.split(limit)? {
        let left = timeout.saturating_sub(started.elapsed());
        let reply = plugin
            .call::<nri_proto::api::SynchronizeRequest>(SynchronizeRef::Encoded(message), left)
            .await?;
        if !message.more {
            metrics::adjustments(&plugin.label, "Synchronize", false, reply.update.len(), 0);
            return Ok(reply.update);
        }
        if !reply.more || !reply.update.is_empty() {
            return Err(SyncError::SplitUnsupported);
        }
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::SynchronizeRef;
    use nri_proto::api::SynchronizeRequest;
    use std::collections::BTreeMap;

    /// The messages a plugin receives for `snapshot`. Each part's bytes are
    /// checked to be exactly prost's encoding of the message they decode to.
    fn split(snapshot: Snapshot, limit: usize) -> Result<Vec<SynchronizeRequest>, SyncError> {
        let mut listing = Listing::new();
        listing.extend(&snapshot);
        Ok(listing
            .split(limit)?
            .into_iter()
            .map(|part| {
                let part = SynchronizeRef::Encoded(part);
                let mut bytes = Vec::new();
                part.encode_raw(&mut bytes);
                let message = part.to_message();
                assert_eq!(bytes, message.encode_to_vec());
                message
            })
            .collect())
    }

    fn pod(i: usize, annotation_bytes: usize) -> PodSandbox {
        PodSandbox {
            id: format!("pod-{i}"),
            annotations: BTreeMap::from([("a".to_string(), "x".repeat(annotation_bytes))]),
            ..Default::default()
        }
    }

    fn container(i: usize, annotation_bytes: usize) -> Container {
        Container {
            id: format!("ctr-{i}"),
            annotations: BTreeMap::from([("a".to_string(), "x".repeat(annotation_bytes))]),
            ..Default::default()
        }
    }

    fn snapshot(pods: usize, containers: usize, bytes: usize) -> Snapshot {
        Snapshot {
            pods: (0..pods).map(|i| pod(i, bytes)).collect(),
            containers: (0..containers).map(|i| container(i, bytes)).collect(),
        }
    }

    #[test]
    fn small_state_is_one_message() {
        let messages = split(snapshot(3, 5, 10), 4 << 20).unwrap();
        assert_eq!(messages.len(), 1);
        assert!(!messages[0].more);
        assert_eq!(
            (messages[0].pods.len(), messages[0].containers.len()),
            (3, 5)
        );
    }

    #[test]
    fn empty_state_is_one_empty_message() {
        let messages = split(Snapshot::default(), 1024).unwrap();
        assert_eq!(messages, vec![SynchronizeRequest::default()]);
    }

    #[test]
    fn large_state_splits_below_the_limit_and_keeps_everything_in_order() {
        // 2,000 pods and 6,000 containers of ~2 KiB: ~16 MiB in all.
        let limit = 4 << 20;
        let messages = split(snapshot(2000, 6000, 2048), limit).unwrap();
        assert!(messages.len() >= 4, "{} messages", messages.len());
        for (i, message) in messages.iter().enumerate() {
            assert!(
                message.encoded_len() + ENVELOPE <= limit,
                "message {i} too large"
            );
            assert_eq!(message.more, i + 1 < messages.len());
        }
        let pods: Vec<String> = messages
            .iter()
            .flat_map(|m| m.pods.iter().map(|p| p.id.clone()))
            .collect();
        let ctrs: Vec<String> = messages
            .iter()
            .flat_map(|m| m.containers.iter().map(|c| c.id.clone()))
            .collect();
        assert_eq!(
            pods,
            (0..2000).map(|i| format!("pod-{i}")).collect::<Vec<_>>()
        );
        assert_eq!(
            ctrs,
            (0..6000).map(|i| format!("ctr-{i}")).collect::<Vec<_>>()
        );
    }

    #[test]
    fn scaled_counts_below_eight_use_four_pods_and_four_containers() {
        // 1 pod and 9 containers, with room for about 8.6 of them: scaling
        // gives 0 pods + 7 containers, below the floor of 8.
        let each = prost::encoding::message::encoded_len(CONTAINERS, &container(0, 5_000));
        let limit = each * 86 / 10;
        let messages = split(snapshot(1, 9, 5_000), limit).unwrap();
        let shape: Vec<(usize, usize)> = messages
            .iter()
            .map(|m| (m.pods.len(), m.containers.len()))
            .collect();
        assert_eq!(shape, vec![(1, 4), (0, 4), (0, 1)]);
    }

    #[test]
    fn objects_too_large_even_alone_fail() {
        let error = split(snapshot(4, 4, 10_000), 20_000).unwrap_err();
        assert_eq!(error, SyncError::TooLarge { limit: 20_000 });
    }
}
