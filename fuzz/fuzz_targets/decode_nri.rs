//! Decodes arbitrary bytes as any NRI request or response message, with
//! prost and with nri-proto's single-pass decoder, which must agree;
//! whatever decodes must re-encode to a fixpoint. The first byte picks the
//! type.
#![no_main]

#[allow(dead_code, missing_docs)]
#[path = "../../proto/tests/support/rpc_table.rs"]
mod rpc_table;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&kind, bytes)) = data.split_first() {
        rpc_table::visit_nth(usize::from(kind), &mut rpc_table::DecodeFixpoint(bytes));
    }
});
