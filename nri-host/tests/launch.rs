//! Launched processes: environment, fd 3, ending and reaping, with real
//! child processes (shell scripts in a temporary directory).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nri_core::discovery::Preinstalled;
use nri_core::proto::identity::PluginId;
use nri_host::Process;

fn script(dir: &Path, name: &str, body: &str) -> Preinstalled {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    Preinstalled {
        id: PluginId::new("10", "probe").unwrap(),
        path,
        kind: Default::default(),
        config: String::new(),
    }
}

/// Waits for `path` to hold a complete line, written by the child.
async fn read_when_written(path: &PathBuf) -> String {
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A child that runs `trap` and then loops until ended; returns once it
/// runs (with its directory, which must outlive it).
async fn running(trap: &str) -> (tempfile::TempDir, Process) {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let body = format!(
        "{trap}; echo up > {}; while :; do sleep 0.05; done",
        ready.display()
    );
    let plugin = script(dir.path(), "10-probe", &body);
    let process = Process::spawn(&plugin, false, &[], None).unwrap();
    read_when_written(&ready).await;
    (dir, process)
}

#[tokio::test]
async fn the_child_sees_only_the_given_environment_and_is_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env.txt");
    let plugin = script(
        dir.path(),
        "10-probe",
        &format!("env | sort > {}.tmp; mv {0}.tmp {0}", out.display()),
    );
    let process = Process::spawn(
        &plugin,
        false,
        &[("NRI_PLUGIN_NAME", "probe"), ("X", "1")],
        None,
    )
    .unwrap();
    let status = process.exited().await;
    assert!(status.contains("exit status: 0"), "{status}");
    let env = std::fs::read_to_string(&out).unwrap();
    let names: Vec<&str> = env
        .lines()
        .filter_map(|line| line.split('=').next())
        .collect();
    // The shell adds PWD (and sometimes SHLVL, _); nothing of ours leaks.
    assert!(env.contains("NRI_PLUGIN_NAME=probe\n"), "{env}");
    assert!(env.contains("X=1\n"), "{env}");
    for name in names {
        assert!(
            ["NRI_PLUGIN_NAME", "X", "PWD", "SHLVL", "_"].contains(&name),
            "unexpected variable {name} in {env}"
        );
    }
}

#[tokio::test]
async fn a_socket_is_passed_as_fd_3() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = script(dir.path(), "10-probe", "echo hello >&3");
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let theirs = std::os::fd::OwnedFd::from(theirs);
    let process = Process::spawn(&plugin, false, &[], Some(&theirs)).unwrap();
    drop(theirs);
    process.exited().await;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut &ours, &mut text).unwrap();
    assert_eq!(text, "hello\n");
}

#[tokio::test]
async fn terminate_ends_a_cooperative_child_with_sigterm() {
    let (_dir, process) = running("trap 'exit 7' TERM").await;
    process.terminate(Duration::from_secs(30)).await;
    let status = process.exited().await;
    assert!(status.contains("exit status: 7"), "{status}");
}

#[tokio::test]
async fn terminate_kills_a_child_that_ignores_sigterm_after_the_grace() {
    let (_dir, process) = running("trap '' TERM").await;
    process.terminate(Duration::from_millis(200)).await;
    let status = process.exited().await;
    assert!(
        status.contains("SIGKILL") || status.contains("signal: 9"),
        "{status}"
    );
}

#[tokio::test]
async fn a_missing_executable_is_a_launch_error() {
    let plugin = Preinstalled {
        id: PluginId::new("10", "gone").unwrap(),
        path: PathBuf::from("/nonexistent/10-gone"),
        kind: Default::default(),
        config: String::new(),
    };
    let error = Process::spawn(&plugin, false, &[], None).unwrap_err();
    assert!(error.to_string().contains("cannot start"), "{error}");
}
