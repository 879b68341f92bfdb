//! `args`: replace the process's command line.

use oci_spec::runtime::Spec;

use super::parts;

/// Replaces the process arguments if the adjustment has any. A leading empty
/// string is the merge-time marker of a plugin that replaces rather than
/// extends the list (nri-upstream.md §3.8); it is dropped, never written
/// into the spec as an empty program name.
pub(super) fn apply(spec: &mut Spec, args: &[String]) {
    let args = match args.split_first() {
        Some((first, rest)) if first.is_empty() => rest,
        _ => args,
    };
    if !args.is_empty() {
        parts::process(spec).set_args(Some(args.to_vec()));
    }
}
