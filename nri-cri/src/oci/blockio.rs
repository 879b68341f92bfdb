//! `linux.resources.blockio_class`: block I/O parameters by class name.

use nri_proto::api::OptionalString;
use oci_spec::runtime::Spec;

use super::resolvers::resolve_class;
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
    let Some(block_io) = resolve_class(class, FIELD, |c| resolvers.blockio_class(c))? else {
        return Ok(());
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
