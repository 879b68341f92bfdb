//! Laying out a run: the temporary directory with the runtime's socket, the
//! plugin directory (a link per plugin to launch) and the plugin
//! configuration directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nri_core::transport::Transport;
use nri_transport_grpc::GrpcTransport;
use nri_transport_ttrpc::TtrpcTransport;

use super::scenario::{PluginKind, PluginSpec};
use super::{SimulatorError, TransportKind};
use crate::multicall::ROLE_PREFIX;

/// The runtime's socket in a run's directory `root` when none is given.
pub fn default_socket(root: &Path, kind: TransportKind) -> PathBuf {
    root.join(match kind {
        TransportKind::Grpc => "nri-grpc.sock",
        TransportKind::Ttrpc | TransportKind::Local | TransportKind::Wasm => "nri.sock",
    })
}

/// The runtime's transport of `kind` on the unix socket at `socket`;
/// launched plugins' standard error goes to ours with `plugin_stderr`.
/// `Local` has no socket and is refused.
pub fn listen(
    kind: TransportKind,
    socket: &Path,
    plugin_stderr: bool,
) -> Result<Arc<dyn Transport>, SimulatorError> {
    let failed = |e: &dyn std::fmt::Display| {
        SimulatorError::Start(format!("cannot listen on {}: {e}", socket.display()))
    };
    Ok(match kind {
        TransportKind::Ttrpc => return listen_ttrpc(socket, plugin_stderr),
        TransportKind::Grpc => Arc::new(
            GrpcTransport::listen(socket)
                .map_err(|e| failed(&e))?
                .with_plugin_stderr(plugin_stderr),
        ),
        TransportKind::Local | TransportKind::Wasm => {
            return Err(SimulatorError::BenchOnly(kind.name()));
        }
    })
}

/// The runtime's ttrpc transport on the unix socket at `socket`.
pub fn listen_ttrpc(
    socket: &Path,
    plugin_stderr: bool,
) -> Result<Arc<dyn Transport>, SimulatorError> {
    let transport = TtrpcTransport::listen(socket).map_err(|e| {
        SimulatorError::Start(format!("cannot listen on {}: {e}", socket.display()))
    })?;
    Ok(Arc::new(transport.with_plugin_stderr(plugin_stderr)))
}

/// The transport that loads WASM plugins (files that start with the WASM
/// magic) from the plugin directory, in the sandbox's default limits,
/// caching compiled modules in `cache` if given.
pub fn wasm(cache: Option<&Path>) -> Result<Arc<dyn Transport>, SimulatorError> {
    let mut options = nri_transport_wasm::WasmOptions::default();
    options.cache_dir = cache.map(Path::to_path_buf);
    let transport = nri_transport_wasm::WasmTransport::new(options)
        .map_err(|e| SimulatorError::Start(format!("cannot start the WASM transport: {e}")))?;
    Ok(Arc::new(transport))
}

/// The directories of one run.
#[derive(Debug)]
pub struct Layout {
    /// Where the pre-installed plugins are linked.
    pub plugins: PathBuf,
    /// Their configuration files.
    pub config: PathBuf,
    /// The links to the harness's roles and wrapper scripts.
    roles: PathBuf,
    /// Labels (`NN-name`) of the plugins laid out.
    pub labels: Vec<String>,
}

impl Layout {
    /// Creates the directories under `root`.
    pub fn new(root: &Path) -> Result<Layout, SimulatorError> {
        let layout = Layout {
            plugins: root.join("plugins"),
            config: root.join("conf.d"),
            roles: root.join("roles"),
            labels: Vec::new(),
        };
        for dir in [&layout.plugins, &layout.config, &layout.roles] {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, "create", &e))?;
        }
        Ok(layout)
    }

    /// Lays out a scenario's plugin.
    pub fn add(&mut self, spec: &PluginSpec) -> Result<(), SimulatorError> {
        let name = spec.name()?;
        let label = format!("{:02}-{name}", spec.index);
        let target = match spec.kind()? {
            PluginKind::Sample(sample) => self.role(&sample)?,
            PluginKind::Fake(script) => {
                let text = serde_json::to_string_pretty(&script)
                    .map_err(|e| SimulatorError::Setup(format!("{label}: {e}")))?;
                if spec.config.is_some() {
                    return Err(SimulatorError::Setup(format!(
                        "{label}: a fake plugin's configuration is its script; drop `config`"
                    )));
                }
                self.write_config(&label, &text)?;
                self.role("fake")?
            }
            PluginKind::Command(command) => {
                return self.add_executable(spec.index, &name, &command, spec.config.as_deref());
            }
        };
        if let Some(config) = &spec.config {
            self.write_config(&label, config)?;
        }
        self.link(&label, &target)
    }

    /// Lays out an executable as plugin `NN-name`, with its configuration.
    pub fn add_executable(
        &mut self,
        index: u8,
        name: &str,
        command: &str,
        config: Option<&str>,
    ) -> Result<(), SimulatorError> {
        let label = format!("{index:02}-{name}");
        let target = self.command(&label, command)?;
        if let Some(config) = config {
            self.write_config(&label, config)?;
        }
        self.link(&label, &target)
    }

    /// Lays out a `--plugin` command: its index and name come from an
    /// `NN-name` file name, else `index` and the file name.
    pub fn add_command(&mut self, command: &str, index: u8) -> Result<(), SimulatorError> {
        let program = command.split_whitespace().next().unwrap_or(command);
        let file_name = Path::new(program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        let label = match nri_core::proto::identity::PluginId::from_file_name(&file_name) {
            Ok(id) => id.to_string(),
            Err(_) => format!("{index:02}-{file_name}"),
        };
        let target = self.command(&label, command)?;
        self.link(&label, &target)
    }

    /// Lays out (an executable copy of) a WASM module as the plugin `label`, configured with
    /// `validate: true` if `validate`.
    pub fn add_module(
        &mut self,
        module: &Path,
        label: &str,
        validate: bool,
    ) -> Result<(), SimulatorError> {
        // A copy, executable: discovery takes only executable files, and
        // a module is usually not.
        let copy = self.roles.join(label);
        std::fs::copy(module, &copy).map_err(|e| io(module, "copy", &e))?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io(&copy, "chmod", &e))?;
        if validate {
            self.write_config(label, "validate: true\n")?;
        }
        self.link(label, &copy)
    }

    /// Links every entry of a user's plugin directory.
    pub fn add_directory(&mut self, dir: &Path) -> Result<(), SimulatorError> {
        let entries = std::fs::read_dir(dir).map_err(|e| io(dir, "read", &e))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let Some(label) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            let target = std::path::absolute(&path).map_err(|e| io(&path, "resolve", &e))?;
            self.link(&label, &target)?;
        }
        Ok(())
    }

    /// The link to the harness's executable that makes it play `role`.
    fn role(&self, role: &str) -> Result<PathBuf, SimulatorError> {
        let link = self.roles.join(format!("{ROLE_PREFIX}{role}"));
        if !link.exists() {
            let harness = std::env::current_exe().map_err(|e| {
                SimulatorError::Setup(format!("cannot find the harness's executable: {e}"))
            })?;
            std::os::unix::fs::symlink(&harness, &link).map_err(|e| io(&link, "link", &e))?;
        }
        Ok(link)
    }

    /// What to launch for a command line: the executable itself, or a
    /// wrapper script when it has arguments (pre-installed plugins are
    /// started without any).
    fn command(&self, label: &str, command: &str) -> Result<PathBuf, SimulatorError> {
        let words: Vec<&str> = command.split_whitespace().collect();
        let Some(program) = words.first() else {
            return Err(SimulatorError::Setup(format!("{label}: empty command")));
        };
        let program = resolve(program)
            .ok_or_else(|| SimulatorError::Setup(format!("{label}: {program:?} not found")))?;
        if words.len() == 1 {
            return Ok(program);
        }
        let quoted: Vec<String> = std::iter::once(program.to_string_lossy().into_owned())
            .chain(words[1..].iter().map(|w| (*w).to_string()))
            .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
            .collect();
        let script = self.roles.join(format!("{label}.sh"));
        let text = format!("#!/bin/sh\nexec {}\n", quoted.join(" "));
        std::fs::write(&script, text).map_err(|e| io(&script, "write", &e))?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io(&script, "chmod", &e))?;
        Ok(script)
    }

    fn write_config(&self, label: &str, text: &str) -> Result<(), SimulatorError> {
        let path = self.config.join(format!("{label}.conf"));
        std::fs::write(&path, text).map_err(|e| io(&path, "write", &e))
    }

    fn link(&mut self, label: &str, target: &Path) -> Result<(), SimulatorError> {
        if self.labels.iter().any(|l| l == label) {
            return Err(SimulatorError::Setup(format!(
                "two plugins are called {label}"
            )));
        }
        let link = self.plugins.join(label);
        std::os::unix::fs::symlink(target, &link).map_err(|e| io(&link, "link", &e))?;
        self.labels.push(label.to_string());
        Ok(())
    }
}

/// An executable named on a command line: a path, or a name looked up in
/// `PATH`.
fn resolve(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return std::path::absolute(program).ok().filter(|p| p.is_file());
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn io(path: &Path, what: &str, error: &std::io::Error) -> SimulatorError {
    SimulatorError::Setup(format!("cannot {what} {}: {error}", path.display()))
}
