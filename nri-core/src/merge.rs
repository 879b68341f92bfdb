//! Merging the replies of several plugins to one container event.
//!
//! Three events let plugins change containers: CreateContainer (an
//! adjustment of the container being created, plus updates of other
//! containers), UpdateContainer and StopContainer (updates of any container).
//! The runtime calls the subscribed plugins one after the other and merges
//! each reply into one result with a merger per event: [`CreateMerge`],
//! [`UpdateMerge`] and [`StopMerge`] (nri-upstream.md §3.7–§3.9).
//!
//! ```
//! use nri_core::merge::CreateMerge;
//! use nri_core::proto::api::{Container, ContainerAdjustment, CreateContainerRequest, CreateContainerResponse};
//!
//! let request = CreateContainerRequest {
//!     container: Some(Container { id: "ctr0".into(), ..Default::default() }),
//!     ..Default::default()
//! };
//! let mut merge = CreateMerge::new(&request);
//! for (plugin, value) in [("00-bar", "bar"), ("10-foo", "foo")] {
//!     // What the plugin is sent: the container as adjusted so far.
//!     let _seen = merge.request();
//!     let mut adjust = ContainerAdjustment::default();
//!     adjust.annotations.insert(format!("{value}.example.com"), value.into());
//!     let reply = CreateContainerResponse { adjust: Some(adjust), ..Default::default() };
//!     merge.apply(plugin, reply)?;
//! }
//! let reply = merge.finish();
//! assert_eq!(reply.adjust.map(|a| a.annotations.len()), Some(2));
//! # Ok::<(), nri_core::merge::MergeError>(())
//! ```
//!
//! # Ownership
//!
//! Every field a plugin sets is claimed for it in the event's [`Owners`]
//! table (a fresh one per event, so conflicts are only found between plugins
//! answering the same event). A second plugin setting the same field, or the
//! same key of a map-like field, fails the event with
//! [`MergeError::Conflict`]. A plugin that removes an entry (key with a
//! leading `-`, see [`nri_proto::removal`]) or clears the argument list
//! (leading empty string) becomes its only legitimate setter; OCI hooks
//! accumulate and never conflict. On an error `apply` leaves the merger as it
//! was before the call.
//!
//! What every adjustment does to the request the next plugin sees and to
//! the merged reply is the table of nri-upstream.md §3.8: CDI devices, RDT
//! and memory policy go to the reply only; everything else is applied to
//! both. Updates are merged per container into one `ContainerUpdate` that
//! starts with present-but-empty memory and CPU blocks; its `ignore_failure`
//! is the AND of all contributions, and a conflicting contribution that
//! allows failure is dropped silently (§3.9). Evictions are collected in
//! order, not merged.
//!
//! # Differences from upstream
//!
//! containerd/nri v0.12 has a few quirks in this logic (nri-upstream.md
//! Appendix B). nri-rs decides them as follows; everything else follows
//! upstream.
//!
//! - **B2, repeated claims.** A plugin that claims a field it already owns in
//!   the same event (for example two updates of one container in one reply,
//!   or the same mount twice) does not conflict with itself: the later value
//!   wins, and earlier entries with that key are dropped from the merged
//!   reply's lists. Upstream reports a conflict.
//! - **B3, pure removals.** A removal without a re-add is kept in the merged
//!   reply for every kind: environment variables as an entry whose key is
//!   `-KEY` with an empty value, devices as a device with path `-/dev/x`
//!   (upstream drops both). Pure removals of annotations, sysctls and network
//!   devices clear the key for the removing plugin, so another plugin setting
//!   it afterwards conflicts, and they are applied to the request later
//!   plugins see (upstream does neither). A pure removal also drops an
//!   earlier plugin's value for that key from the merged reply.
//! - **B4, namespace order.** Replacing a namespace type keeps its position
//!   in `container.linux.namespaces`; new types are appended, removals delete
//!   in place. Upstream rebuilds the list in random order.
//! - **B5, pids in updates.** The PID limit of an update is taken from the
//!   update. Upstream reads it from the container's existing resources, so an
//!   update's limit is never applied.
//! - **B6, the UpdateContainer target.** [`UpdateMerge::finish`] always ends
//!   with exactly one update of the container being updated, carrying the
//!   complete requested resources with the plugins' overrides, even if no
//!   plugin touched it. Upstream's Go API returns a nil element then.
//!
//! Two smaller differences: the conflict message has no trailing space after
//! a simple field's name, and the merged reply carries `linux.rdt` only when
//! a plugin adjusted RDT (upstream puts an empty `LinuxRdt` there as soon as
//! any plugin sends a Linux adjustment; both mean "no change").

mod adjustment;
mod create;
mod owners;
mod resources;
#[cfg(test)]
mod testutil;
mod update;

pub use create::CreateMerge;
pub use owners::{Claim, Owners};
pub(crate) use update::requested_resources;
pub use update::{StopMerge, UpdateMerge};

use nri_proto::api::Field;

/// A conflict or a forbidden request found while merging plugin replies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// Two plugins set the same field (or the same key of a map-like field)
    /// of one container.
    #[error("plugins {claimer:?} and {owner:?} both tried to set {}", qualified(*.field, .key.as_deref()))]
    Conflict {
        /// The contested field.
        field: Field,
        /// The contested key, for map-like fields.
        key: Option<String>,
        /// The container whose field it is.
        container: String,
        /// The plugin whose claim failed.
        claimer: String,
        /// The plugin that owns the field.
        owner: String,
    },
    /// A plugin answered CreateContainer with an update of the container
    /// being created.
    #[error("plugin {plugin:?} asked update of {container:?} during creation")]
    UpdateDuringCreation {
        /// The plugin.
        plugin: String,
        /// The container being created.
        container: String,
    },
}

/// `Field` or `Field key`, as in upstream's conflict messages.
fn qualified(field: Field, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("{} {key}", field.as_str_name()),
        None => field.as_str_name().to_owned(),
    }
}

/// Runs `step` on `state`, restoring `state` if the step fails.
fn all_or_nothing<T: Clone>(
    state: &mut T,
    step: impl FnOnce(&mut T) -> Result<(), MergeError>,
) -> Result<(), MergeError> {
    let saved = state.clone();
    let result = step(state);
    if result.is_err() {
        *state = saved;
    }
    result
}

/// Claims the simple fields `$name` (tracked as `Field::$field`) that are set
/// in `$src` and copies them into each destination: `[a, b]` lists them,
/// `each xs` iterates a slice of `&mut` destinations.
macro_rules! merge_simple {
    (@one $claims:expr, $src:expr, $field:ident, $name:ident, [$($dst:expr),+]) => {
        if $claims.simple(::nri_proto::api::Field::$field, &$src.$name)? {
            $( $dst.$name = $crate::merge::owned(&$src.$name); )+
        }
    };
    ($claims:expr, $src:expr => each $dsts:expr, { $($field:ident: $name:ident),+ $(,)? }) => {
        $(
            if $claims.simple(::nri_proto::api::Field::$field, &$src.$name)? {
                for dst in $dsts.iter_mut() {
                    dst.$name = $crate::merge::owned(&$src.$name);
                }
            }
        )+
    };
    ($claims:expr, $src:expr => $dsts:tt { $($field:ident: $name:ident),+ $(,)? }) => {
        $( $crate::merge::merge_simple!(@one $claims, $src, $field, $name, $dsts); )+
    };
}
pub(crate) use merge_simple;

/// A copy of `value` (a function, so that it also serves `Copy` fields).
fn owned<T: Clone>(value: &T) -> T {
    value.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_messages_match_upstream() {
        let cases = [
            (Field::Annotations, Some("key"), "Annotations key"),
            (Field::MemTcpLimit, None, "MemTCPLimit"),
        ];
        for (field, key, what) in cases {
            let conflict = MergeError::Conflict {
                field,
                key: key.map(str::to_owned),
                container: "ctr0".into(),
                claimer: "10-foo".into(),
                owner: "00-bar".into(),
            };
            let expected = format!(r#"plugins "10-foo" and "00-bar" both tried to set {what}"#);
            assert_eq!(conflict.to_string(), expected);
        }
        let during = MergeError::UpdateDuringCreation {
            plugin: "00-test".into(),
            container: "ctr1".into(),
        };
        assert_eq!(
            during.to_string(),
            r#"plugin "00-test" asked update of "ctr1" during creation"#
        );
    }

    #[test]
    fn all_or_nothing_restores_on_error() {
        let mut state = vec![1];
        let failed = all_or_nothing(&mut state, |s| {
            s.push(2);
            Err(MergeError::UpdateDuringCreation {
                plugin: "p".into(),
                container: "c".into(),
            })
        });
        assert!(failed.is_err());
        assert_eq!(state, vec![1]);
        all_or_nothing(&mut state, |s| {
            s.push(3);
            Ok(())
        })
        .unwrap();
        assert_eq!(state, vec![1, 3]);
    }
}
