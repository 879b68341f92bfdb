//! `nri-harness` as the plugins it launches, busybox-style: run under the
//! name `nri-<role>`, or through a symbolic link to a file of that name, it
//! is that plugin instead of the harness. The roles are the sample plugins
//! of nri-sample-plugins (`nri-logger`, `nri-ulimit-adjuster`, …, `nri-echo`) and
//! the scripted fake plugin (`nri-fake`, see [`crate::fake_plugin`]), and
//! `nri-cri-proxy` (see [`nri_cri::proxy::cli`]), so that tests run the
//! proxy as a process of its own, and `nri-raw-echo`, the bench's raw
//! round-trip peer ([`crate::simulator::raw_echo`]).
//!
//! The harness launches a sample as a pre-installed plugin by linking
//! `NN-name` in its plugin directory to `nri-<sample>`, which links to the
//! harness's own executable: the samples need no separate build, and
//! `cargo run -p nri-testkit --features harness --bin nri-harness` has everything it runs.
//! The same works by hand: `ln -s nri-harness nri-logger`.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

/// A role's entry point: its command-line arguments, program name first.
pub type Main = fn(Vec<OsString>) -> ExitCode;

/// The file-name prefix of a role.
pub const ROLE_PREFIX: &str = "nri-";

/// The role called `name` (without the prefix), if there is one.
pub fn role(name: &str) -> Option<Main> {
    match name {
        "fake" => return Some(crate::fake_plugin::main),
        "cri-proxy" => return Some(nri_cri::proxy::cli::main),
        "raw-echo" => return Some(crate::simulator::raw_echo::main),
        _ => {}
    }
    nri_sample_plugins::commands::sample(name)
}

/// The role the program at `program` (its `argv[0]`) is to play: its own
/// file name, or that of its link's target, is `nri-<role>`.
pub fn role_of(program: &Path) -> Option<Main> {
    let by_name = |path: &Path| {
        path.file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_prefix(ROLE_PREFIX))
            .and_then(role)
    };
    by_name(program).or_else(|| {
        let target = std::fs::read_link(program).ok()?;
        by_name(&target)
    })
}

/// Runs the role this process was started as, if any; `None` means it is
/// the harness itself.
pub fn dispatch() -> Option<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let program = args.first()?;
    let main = role_of(Path::new(program))?;
    Some(main(args))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn roles_by_name_and_by_link() {
        assert!(role_of(Path::new("/usr/bin/nri-logger")).is_some());
        assert!(role_of(Path::new("nri-fake")).is_some());
        assert!(role_of(Path::new("/usr/bin/nri-harness")).is_none());
        assert!(role_of(Path::new("/x/10-logger")).is_none());

        let dir = tempfile::tempdir().unwrap();
        let role = dir.path().join("nri-ulimit-adjuster");
        std::os::unix::fs::symlink("/nonexistent/nri-harness", &role).unwrap();
        let plugin = dir.path().join("10-limits");
        std::os::unix::fs::symlink(&role, &plugin).unwrap();
        assert!(role_of(&plugin).is_some());
        let other = dir.path().join("20-other");
        std::os::unix::fs::symlink("/nonexistent/nri-harness", &other).unwrap();
        assert!(role_of(&other).is_none());
    }
}
