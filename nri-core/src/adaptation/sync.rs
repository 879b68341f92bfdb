//! Synchronizing a plugin with every pod and container, split into several
//! messages when one would pass the message size limit.
//!
//! The split follows upstream (nri-upstream.md §3.6): when the whole state
//! does not fit, the number of pods and containers per message is scaled by
//! `min(limit / size, 0.9)`, with a floor of 4 pods + 4 containers, until
//! every message fits; a state that does not fit even at 8 objects per
//! message fails. Upstream learns the size from ttrpc's "oversized message"
//! error after a failed send; nri-core computes the encoded sizes up front,
//! so every transport splits the same way and nothing is sent twice. Every
//! message but the last has `more` set, and the plugin must answer those
//! with `more` set and no updates. All messages share one request timeout.

use std::time::{Duration, Instant};

use nri_proto::api::{Container, ContainerUpdate, PodSandbox, SynchronizeRequest};
use prost::Message;

use super::backend::Snapshot;
use super::error::SyncError;
use super::plugin::Plugin;

/// Room left in each message for the RPC envelope around the request
/// (ttrpc's service and method names, timeout and framing).
pub(crate) const ENVELOPE: usize = 256;

/// Fewest objects per message before the split gives up.
const MIN_OBJECTS: usize = 8;

/// Splits a snapshot into Synchronize requests that each encode to at most
/// `limit` bytes (envelope included).
pub(crate) fn split(
    snapshot: Snapshot,
    limit: usize,
) -> Result<Vec<SynchronizeRequest>, SyncError> {
    let Snapshot { pods, containers } = snapshot;
    let pod_sizes: Vec<usize> = pods.iter().map(|p| entry_len(p.encoded_len())).collect();
    let ctr_sizes: Vec<usize> = containers
        .iter()
        .map(|c| entry_len(c.encoded_len()))
        .collect();
    let (mut per_pod, mut per_ctr) = (pods.len(), containers.len());
    let mut largest = message_len(&pod_sizes, &ctr_sizes, per_pod, per_ctr);
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
        largest = message_len(&pod_sizes, &ctr_sizes, per_pod, per_ctr);
    }
    Ok(assemble(pods, containers, per_pod, per_ctr))
}

/// Encoded length of a length-delimited field holding `len` bytes.
fn entry_len(len: usize) -> usize {
    1 + prost::length_delimiter_len(len) + len
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
    let per = per.max(1);
    let start = i.saturating_mul(per).min(items.len());
    let end = start.saturating_add(per).min(items.len());
    &items[start..end]
}

fn assemble(
    pods: Vec<PodSandbox>,
    containers: Vec<Container>,
    per_pod: usize,
    per_ctr: usize,
) -> Vec<SynchronizeRequest> {
    let messages = count(pods.len(), per_pod)
        .max(count(containers.len(), per_ctr))
        .max(1);
    let mut pods = pods.into_iter();
    let mut containers = containers.into_iter();
    (0..messages)
        .map(|i| SynchronizeRequest {
            pods: pods.by_ref().take(per_pod.max(1)).collect(),
            containers: containers.by_ref().take(per_ctr.max(1)).collect(),
            more: i + 1 < messages,
        })
        .collect()
}

/// Synchronizes one plugin; returns the updates it asked for.
pub(crate) async fn synchronize(
    plugin: &Plugin,
    snapshot: Snapshot,
    timeout: Duration,
    limit: usize,
) -> Result<Vec<ContainerUpdate>, SyncError> {
    let started = Instant::now();
    for request in split(snapshot, limit)? {
        let more = request.more;
        let left = timeout.saturating_sub(started.elapsed());
        let reply = plugin.call(&request, left).await?;
        if !more {
            super::metrics::adjustments(&plugin.label, "Synchronize", false, reply.update.len(), 0);
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
    use std::collections::BTreeMap;

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
        let each = entry_len(container(0, 5_000).encoded_len());
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
