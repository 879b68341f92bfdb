//! Running the validators of a container creation: after every mutating
//! plugin, all validators at once, each with its own request timeout; any
//! rejection, error, timeout or crash fails the creation (fail-closed), and
//! nothing of the adjustment is applied.

use std::sync::Arc;

use nri_proto::api::{Container, PluginInstance, ValidateContainerAdjustmentRequest};
use nri_proto::event::Event;

use super::Shared;
use super::error::EventError;
use super::plugin::Plugin;
use crate::merge::CreateMerge;
use crate::transport::ValidateContainerAdjustmentRef;

/// Validates the merged result of a creation.
///
/// The consulted plugins the validators see are the registered plugins that
/// took part without failing: a plugin subscribed to CreateContainer that
/// timed out, crashed or was skipped by its failure policy is **not** listed
/// (upstream lists it, so a required plugin that never answered passes
/// validation: containerd/nri#316).
pub(crate) async fn validate(
    shared: &Shared,
    plugins: &[Arc<Plugin>],
    failed: &[Arc<Plugin>],
    pristine: Option<&Container>,
    merge: &CreateMerge<'_>,
) -> Result<(), EventError> {
    let validators: Vec<&Arc<Plugin>> = plugins
        .iter()
        .filter(|p| p.subscribes(Event::ValidateContainerAdjustment) && !p.is_closed())
        .collect();
    if validators.is_empty() {
        return Ok(());
    }
    let consulted: Vec<PluginInstance> = plugins
        .iter()
        .filter(|p| !p.is_closed() && !failed.iter().any(|f| Arc::ptr_eq(f, p)))
        .map(|p| PluginInstance {
            name: p.id.name().to_string(),
            index: p.id.index().as_str().to_string(),
        })
        .collect();
    // Borrowed: validators are sent the runtime's container, the merged
    // adjustment and updates without a copy of each for the request.
    let owners = merge.owners().to_proto();
    let request = ValidateContainerAdjustmentRef {
        pod: merge.request().pod,
        container: pristine,
        adjust: Some(merge.adjustment()),
        update: merge.updates(),
        owners: Some(&owners),
        plugins: &consulted,
    };
    let timeout = shared.options.request_timeout;
    let verdicts = futures::future::join_all(validators.iter().map(|validator| {
        validator.deliver::<ValidateContainerAdjustmentRequest>(request, timeout)
    }))
    .await;
    let mut first_error = None;
    for (validator, verdict) in validators.into_iter().zip(verdicts) {
        let error = match verdict {
            Ok(reply) if !reply.reject => continue,
            Ok(reply) => EventError::Rejected {
                validator: validator.label.to_string(),
                reason: if reply.reason.is_empty() {
                    "unknown rejection reason".to_string()
                } else {
                    reply.reason
                },
            },
            Err(error) => {
                if error.is_fatal() {
                    shared.drop_plugin(validator, &error.to_string());
                }
                EventError::Validator {
                    validator: validator.label.to_string(),
                    error,
                }
            }
        };
        first_error.get_or_insert(error);
    }
    first_error.map_or(Ok(()), Err)
}
