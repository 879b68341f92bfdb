//! Each sample plugin's command line, as a function a binary calls from its
//! `main`: the `nri-*` binaries of this crate, and multi-call binaries that
//! run a sample under another name (`nri-harness` runs the samples it
//! launches this way, so they need no separate build).

pub mod device_injector;
pub mod differ;
pub mod echo;
pub mod hook_injector;
pub mod logger;
pub mod template;
pub mod ulimit_adjuster;

use std::ffi::OsString;
use std::process::ExitCode;

/// A sample's entry point: its command-line arguments, program name first.
pub type Main = fn(Vec<OsString>) -> ExitCode;

/// Every sample by its plugin name (the binary's name without `nri-`).
pub const SAMPLES: &[(&str, Main)] = &[
    ("device-injector", |args| device_injector::main(args)),
    ("differ", |args| differ::main(args)),
    ("echo", |args| echo::main(args)),
    ("hook-injector", |args| hook_injector::main(args)),
    ("logger", |args| logger::main(args)),
    ("template", |args| template::main(args)),
    ("ulimit-adjuster", |args| ulimit_adjuster::main(args)),
];

/// The entry point of the sample named `name` (`logger`, or `nri-logger`).
pub fn sample(name: &str) -> Option<Main> {
    let name = name.strip_prefix("nri-").unwrap_or(name);
    SAMPLES
        .iter()
        .find(|(sample, _)| *sample == name)
        .map(|(_, main)| *main)
}
