//! `linux.resources.blockio_class`: block I/O parameters by class name.

use nri_proto::api::OptionalString;
use nri_proto::optional::OptionalValue;
use oci_spec::runtime::Spec;

use super::{AdjustError, Resolvers, parts};

const FIELD: &str = "linux.resources.blockio_class";

/// Resolves the block I/O class through the runtime and sets the result as
/// `linux.resources.blockIO`. An empty class name, or a class the runtime
/// resolves to nothing, removes the block I/O parameters.
pub(super) fn apply(
    spec: &mut Spec,
    class: &Option<OptionalString>,
    resolvers: &dyn Resolvers,
) -> Result<(), AdjustError> {
    let Some(class) = class.value() else {
        return Ok(());
    };
    let block_io = if class.is_empty() {
        None
    } else {
        resolvers
            .blockio_class(&class)
            .map_err(|reason| AdjustError::resolver(FIELD, reason))?
    };
    match block_io {
        Some(block_io) => {
            parts::resources(spec).set_block_io(Some(block_io));
        }
        None => {
            if let Some(resources) = parts::existing_resources(spec) {
                resources.set_block_io(None);
            }
        }
    }
    Ok(())
}
