//! Sample NRI plugins built on nri-rs, each a drop-in replacement for the
//! upstream Go sample of the same name: same annotation keys, same
//! configuration formats, same adjustments.
//!
//! The logic of each plugin lives in a module here, free of I/O where it
//! can be, so it is tested on its own; [`commands`] wires it to the stub and
//! the ttrpc transport as a command line, and the binaries in `src/bin`
//! call those.

pub mod annotations;
pub mod cli;
pub mod commands;
pub mod config_text;
pub mod create_adjuster;
pub mod device_injector;
pub mod differ;
pub mod echo;
pub mod hook_injector;
pub mod logger;
pub mod template;
pub mod ulimit_adjuster;
pub mod yaml;
