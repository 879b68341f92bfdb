#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Pre-installed plugins launched by the ttrpc transport as real child
//! processes, and the handling of the runtime's socket file.
//!
//! The plugins are shell scripts in a temporary plugin directory. A probe
//! records what it was given (its initial environment from
//! `/proc/$$/environ`, its open descriptors from `/proc/$$/fd`, its pid),
//! then `exec`s `nri-relay-plugin`, which adopts fd 3 and listens on a
//! control socket the test dials to serve a [`ScriptedPlugin`] from here.
//! The child's `PATH` is empty, so scripts use absolute paths.
//!
//! Tests that start processes run one at a time ([`SERIAL`]): a script
//! written while another test forks could be briefly held open for writing
//! by that child and fail to start with `ETXTBSY`.

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nri_core::adaptation::{Adaptation, Options};
use nri_core::proto::api::RegisterPluginRequest;
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::{Method, Origin, PluginRequest, RuntimeRequest, Transport};
use nri_testkit::conformance::{
    self, RELAY_CONTROL_SOCKET, ScriptedPlugin, container, pod, send_event, within,
};
use nri_testkit::domain::FakeDomain;
use nri_transport_ttrpc::{ConnectError, RuntimeConnection, SocketError, TtrpcTransport};

const RELAY: &str = env!("CARGO_BIN_EXE_nri-relay-plugin");

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A plugin directory, a configuration directory and a directory for what
/// probes record.
struct Dirs {
    _root: tempfile::TempDir,
    plugins: PathBuf,
    config: PathBuf,
    out: PathBuf,
}

impl Dirs {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let [plugins, config, out] = ["plugins", "config", "out"].map(|d| root.path().join(d));
        for dir in [&plugins, &config, &out] {
            std::fs::create_dir(dir).unwrap();
        }
        Dirs {
            _root: root,
            plugins,
            config,
            out,
        }
    }

    /// Installs an executable script `NN-name` with `body` after the
    /// shebang; returns its path.
    fn install(&self, file_name: &str, body: &str) -> PathBuf {
        let path = self.plugins.join(file_name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// The control socket of the relay started by plugin `label`.
    fn control(&self, label: &str) -> PathBuf {
        self.out.join(format!("{label}.sock"))
    }

    /// Script lines recording the shell's pid as `<label>.pid`.
    fn record_pid(&self, label: &str) -> String {
        format!(
            "echo $$ > '{}'\n",
            self.out.join(format!("{label}.pid")).display()
        )
    }

    /// Script lines running the relay for plugin `label`.
    fn relay(&self, label: &str) -> String {
        format!(
            "/usr/bin/env {RELAY_CONTROL_SOCKET}='{}' '{RELAY}'\n",
            self.control(label).display()
        )
    }

    /// The probe: records its environment, descriptors and pid, then
    /// becomes the relay. The descriptors are listed by a nested shell,
    /// which does the redirection: dash redirects a command's output in
    /// the shell itself, where it would show in the listing.
    fn install_probe(&self, label: &str) -> PathBuf {
        let out = |what: &str| self.out.join(format!("{label}.{what}"));
        let body = format!(
            "/bin/cat /proc/$$/environ > '{}'\n/bin/sh -c \"/bin/ls -l /proc/$$/fd > '{}'\"\n{}exec {}",
            out("environ").display(),
            out("fds").display(),
            self.record_pid(label),
            self.relay(label),
        );
        self.install(label, &body)
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.out.join(file)).unwrap()
    }

    fn pid(&self, label: &str) -> u32 {
        self.read(&format!("{label}.pid")).trim().parse().unwrap()
    }

    /// Options launching the plugins of this plugin directory.
    fn options(&self) -> Options {
        let mut options = conformance::options().with_plugin_path(Some(self.plugins.clone()));
        options.plugin_config_path = self.config.clone();
        options
    }
}

/// Dials a relay's control socket, retrying while it is not there yet (the
/// relay's standard output is the null device, so it cannot say when).
async fn dial(control: &Path, plugin: Arc<ScriptedPlugin>) -> RuntimeConnection {
    loop {
        match RuntimeConnection::connect(control, plugin.clone()).await {
            Ok(connection) => return connection,
            Err(ConnectError::Dial { source, .. })
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(error) => panic!("cannot dial {control:?}: {error}"),
        }
    }
}

/// Starts `adaptation` on a launch-only transport and, meanwhile, serves
/// `plugin` for the launched relay `label` and registers it. Returns the
/// control link once the start is over, and how long the start took.
async fn start_relayed(
    dirs: &Dirs,
    adaptation: &Adaptation,
    label: &str,
    plugin: Arc<ScriptedPlugin>,
) -> (RuntimeConnection, Duration) {
    let started = Instant::now();
    let starting = {
        let adaptation = adaptation.clone();
        let transport: Arc<dyn Transport> = Arc::new(TtrpcTransport::launch_only());
        tokio::spawn(async move { adaptation.start(vec![transport]).await })
    };
    let control = within("control link", dial(&dirs.control(label), plugin.clone())).await;
    let register = RuntimeRequest::RegisterPlugin(RegisterPluginRequest {
        plugin_name: plugin.name().to_string(),
        plugin_idx: plugin.index().to_string(),
        nri_version: "v0.12.2".into(),
    });
    let registered = control.call(register, Some(Duration::from_secs(5))).await;
    assert!(registered.is_ok(), "{registered:?}");
    within("start", starting).await.unwrap().unwrap();
    (control, started.elapsed())
}

fn adaptation(options: Options) -> Adaptation {
    Adaptation::new(
        options,
        Arc::new(FakeDomain::from_snapshot(conformance::state())),
    )
}

/// Fails unless process `pid` is gone and reaped (no zombie is left).
fn assert_reaped(pid: u32) {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Ok(stat) => panic!("process {pid} is still there: {stat}"),
        Err(error) => panic!("cannot inspect process {pid}: {error}"),
    }
}

/// `fd -> target` pairs from `ls -l /proc/PID/fd`.
fn parse_fds(listing: &str) -> Vec<(u32, String)> {
    listing
        .lines()
        .filter_map(|line| {
            let (left, target) = line.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?.parse().ok()?;
            Some((fd, target.to_string()))
        })
        .collect()
}

#[tokio::test]
async fn launched_plugin_gets_fd_3_and_exactly_three_variables() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    let script = dirs.install_probe("10-probe");
    let adaptation = adaptation(dirs.options());
    let plugin = Arc::new(ScriptedPlugin::new("10", "probe", EventMask::NONE));
    let (_control, _) = start_relayed(&dirs, &adaptation, "10-probe", plugin).await;

    let mut environment: Vec<String> = dirs
        .read("10-probe.environ")
        .split('\0')
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    environment.sort();
    assert_eq!(
        environment,
        [
            "NRI_PLUGIN_IDX=10",
            "NRI_PLUGIN_NAME=probe",
            "NRI_PLUGIN_SOCKET=3"
        ]
    );

    let fds = parse_fds(&dirs.read("10-probe.fds"));
    let numbers: BTreeSet<u32> = fds.iter().map(|(fd, _)| *fd).collect();
    assert!((0..=3).all(|fd| numbers.contains(&fd)), "{fds:?}");
    let mut unexpected = Vec::new();
    for (fd, target) in &fds {
        match fd {
            0..=2 => assert_eq!(target, "/dev/null", "fd {fd}"),
            3 => assert!(target.starts_with("socket:"), "fd 3 is {target}"),
            // The shell's own handle on the script it runs.
            _ if Path::new(target) == script => {}
            _ => unexpected.push((fd, target)),
        }
    }
    assert!(
        unexpected.is_empty(),
        "fds leaked into the plugin: {unexpected:?}"
    );

    within("stop", adaptation.stop()).await;
    assert_reaped(dirs.pid("10-probe"));
}

#[tokio::test]
async fn launched_plugin_registers_and_receives_events() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    dirs.install_probe("10-probe");
    std::fs::write(dirs.config.join("10-probe.conf"), "probe: config").unwrap();
    let adaptation = adaptation(dirs.options());
    let plugin = Arc::new(ScriptedPlugin::new("10", "probe", EventMask::NONE));
    let (_control, _) = start_relayed(&dirs, &adaptation, "10-probe", plugin.clone()).await;

    let pid = dirs.pid("10-probe");
    let listed: Vec<(String, Origin)> = adaptation
        .plugins()
        .iter()
        .map(|p| (p.id.to_string(), p.origin))
        .collect();
    assert_eq!(
        listed,
        [("10-probe".to_string(), Origin::Launched { pid: Some(pid) })]
    );
    match plugin.take().first() {
        Some(PluginRequest::Configure(configure)) => assert_eq!(configure.config, "probe: config"),
        other => panic!("expected Configure first, got {other:?}"),
    }

    let sent = send_event(&adaptation, Event::RunPodSandbox, &pod(0), &container(0, 0)).await;
    assert!(sent.is_ok(), "{sent:?}");
    assert_eq!(plugin.calls(), [Method::RunPodSandbox]);

    within("stop", adaptation.stop()).await;
    assert_eq!(plugin.calls(), [Method::RunPodSandbox, Method::Shutdown]);
    assert_reaped(pid);
}

#[tokio::test]
async fn stop_kills_a_plugin_that_outlives_its_connection_after_the_grace() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    let body = format!(
        "trap '' TERM\n{}{}exec /bin/sleep 1000\n",
        dirs.record_pid("10-stubborn"),
        dirs.relay("10-stubborn"),
    );
    dirs.install("10-stubborn", &body);
    let mut options = dirs.options();
    options.shutdown_grace = Duration::from_millis(300);
    let adaptation = adaptation(options);
    let plugin = Arc::new(ScriptedPlugin::new("10", "stubborn", EventMask::NONE));
    let (_control, _) = start_relayed(&dirs, &adaptation, "10-stubborn", plugin).await;
    let pid = dirs.pid("10-stubborn");
    assert_eq!(
        adaptation.plugins()[0].origin,
        Origin::Launched { pid: Some(pid) }
    );

    let stopping = Instant::now();
    within("stop", adaptation.stop()).await;
    let took = stopping.elapsed();
    assert!(took >= Duration::from_millis(300), "killed after {took:?}");
    assert_reaped(pid);
}

#[tokio::test]
async fn a_plugin_that_never_registers_is_killed_after_the_grace() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    let body = format!(
        "trap '' TERM\n{}exec /bin/sleep 1000\n",
        dirs.record_pid("10-silent")
    );
    dirs.install("10-silent", &body);
    let mut options = dirs.options();
    options.registration_timeout = Duration::from_millis(300);
    options.shutdown_grace = Duration::from_millis(300);
    let adaptation = adaptation(options);
    let transport: Arc<dyn Transport> = Arc::new(TtrpcTransport::launch_only());

    let starting = Instant::now();
    within("start", adaptation.start(vec![transport]))
        .await
        .unwrap();
    let took = starting.elapsed();
    assert!(took >= Duration::from_millis(600), "killed after {took:?}");
    assert!(adaptation.plugins().is_empty());
    assert_reaped(dirs.pid("10-silent"));
    within("stop", adaptation.stop()).await;
}

#[tokio::test]
async fn a_plugin_that_exits_at_once_does_not_hold_up_the_start() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    dirs.install(
        "05-quitter",
        &format!("{}exit 3\n", dirs.record_pid("05-quitter")),
    );
    dirs.install_probe("10-probe");
    let mut options = dirs.options();
    options.registration_timeout = Duration::from_secs(8);
    let adaptation = adaptation(options);
    let plugin = Arc::new(ScriptedPlugin::new("10", "probe", EventMask::NONE));
    let (_control, took) = start_relayed(&dirs, &adaptation, "10-probe", plugin.clone()).await;

    assert!(took < Duration::from_secs(4), "the start took {took:?}");
    let labels: Vec<String> = adaptation
        .plugins()
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(labels, ["10-probe"]);
    assert_reaped(dirs.pid("05-quitter"));
    plugin.take();
    let sent = send_event(&adaptation, Event::RunPodSandbox, &pod(0), &container(0, 0)).await;
    assert!(sent.is_ok(), "{sent:?}");
    assert_eq!(plugin.calls(), [Method::RunPodSandbox]);
    within("stop", adaptation.stop()).await;
}

#[tokio::test]
async fn launch_only_has_no_socket() {
    let default = Path::new(nri_transport_ttrpc::DEFAULT_SOCKET_PATH);
    let existed = default.exists();
    let transport = Arc::new(TtrpcTransport::launch_only());
    assert_eq!(transport.socket_path(), None);
    let adaptation = adaptation(conformance::options());
    within(
        "start",
        adaptation.start(vec![transport.clone() as Arc<dyn Transport>]),
    )
    .await
    .unwrap();
    if !existed {
        assert!(!default.exists(), "{default:?} appeared");
    }
    within("stop", adaptation.stop()).await;
    transport.shut_down();
    assert!(
        within("accept after shutdown", transport.accept())
            .await
            .is_none()
    );
}

#[tokio::test]
async fn listen_creates_a_missing_parent_with_mode_0700() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("a").join("b").join("nri.sock");
    let transport = TtrpcTransport::listen(&path).unwrap();
    for dir in [root.path().join("a"), root.path().join("a").join("b")] {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "{dir:?}: {mode:o}");
    }
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket()
    );
    transport.shut_down();
}

#[tokio::test]
async fn listen_refuses_a_regular_file_and_leaves_it() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("nri.sock");
    std::fs::write(&path, "precious").unwrap();
    let refused = TtrpcTransport::listen(&path);
    assert!(
        matches!(refused, Err(SocketError::NotASocket(_))),
        "{refused:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[tokio::test]
async fn listen_replaces_a_stale_socket() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("nri.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket()
    );
    let transport = TtrpcTransport::listen(&path).unwrap();
    std::os::unix::net::UnixStream::connect(&path).unwrap();
    transport.shut_down();
}

#[tokio::test]
async fn listen_refuses_a_live_socket() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("nri.sock");
    let live = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let refused = TtrpcTransport::listen(&path);
    assert!(matches!(refused, Err(SocketError::InUse(_))), "{refused:?}");
    // The other runtime's socket still works.
    let _client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    live.accept().unwrap();
}

#[tokio::test]
async fn shut_down_removes_the_socket_file() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("nri.sock");
    let transport = TtrpcTransport::listen(&path).unwrap();
    assert!(path.exists());
    transport.shut_down();
    assert!(!path.exists());
    transport.shut_down();
    assert!(
        within("accept after shutdown", transport.accept())
            .await
            .is_none()
    );
}
