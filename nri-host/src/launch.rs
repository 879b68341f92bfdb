//! Launching pre-installed plugins, as upstream's adaptation does
//! (containerd/nri `pkg/adaptation/plugin.go`): no arguments, a cleared
//! environment holding only what the transport passes, the null device for
//! standard input and output, and optionally a socket as fd 3 (the ttrpc
//! transport passes its end of a socketpair there; the gRPC transport
//! passes none). The child is reaped by a task of its own, whether it exits
//! by itself or is ended by [`Process::terminate`].

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::Duration;

use nri_core::discovery::Preinstalled;
use nri_core::transport::LaunchError;
use tokio::sync::{mpsc, watch};

use crate::fd;

/// How the runtime ends a plugin's process.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// SIGTERM: please exit.
    Terminate,
    /// SIGKILL.
    Kill,
}

/// A launched plugin's process, reaped by a task of its own.
#[derive(Debug)]
pub struct Process {
    pid: Option<u32>,
    signals: mpsc::UnboundedSender<Ending>,
    exit: watch::Receiver<Option<String>>,
}

impl Process {
    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Kills the process (SIGKILL) without waiting; the reaper reaps it.
    pub fn kill(&self) {
        let _ = self.signals.send(Ending::Kill);
    }

    /// Asks the process to end (SIGTERM), waits up to `grace` for it to
    /// exit, then kills it (SIGKILL), and returns once it is reaped.
    pub async fn terminate(&self, grace: Duration) {
        let mut exit = self.exit.clone();
        if exit.borrow().is_some() {
            return;
        }
        let _ = self.signals.send(Ending::Terminate);
        if tokio::time::timeout(grace, exit.wait_for(Option::is_some))
            .await
            .is_ok()
        {
            return;
        }
        tracing::warn!(
            pid = self.pid,
            ?grace,
            "plugin did not exit in time; killing it"
        );
        let _ = self.signals.send(Ending::Kill);
        let _ = exit.wait_for(Option::is_some).await;
    }

    /// Waits until the process has exited and been reaped; returns its
    /// exit status as text.
    pub async fn exited(&self) -> String {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(status) => status.clone().unwrap_or_default(),
            Err(_) => "reaper gone".into(),
        }
    }

    /// Starts `plugin` with a cleared environment holding only `env`, no
    /// arguments, the null device as standard input and output (and as
    /// standard error unless `stderr`), and `fd` (if any) as fd 3. Must be
    /// called inside a tokio runtime.
    pub fn spawn(
        plugin: &Preinstalled,
        stderr: bool,
        env: &[(&str, &str)],
        fd: Option<&OwnedFd>,
    ) -> Result<Self, LaunchError> {
        let failed = |reason: String| LaunchError::Failed {
            path: plugin.path.clone(),
            reason,
        };
        let mut command = tokio::process::Command::new(&plugin.path);
        command
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if stderr {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true);
        if let Some(fd) = fd {
            fd::pass_as_plugin_fd(&mut command, fd);
        }
        let mut child = command
            .spawn()
            .map_err(|error| failed(format!("cannot start: {error}")))?;
        let pid = child.id();
        let (signals, mut ending) = mpsc::unbounded_channel();
        let (exited, exit) = watch::channel(None);
        let name = plugin.id.to_string();
        // The reaper owns the child: the pid cannot be reused while a signal
        // is sent to it, because only the reaper reaps.
        tokio::spawn(async move {
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status,
                    Some(how) = ending.recv() => match how {
                        Ending::Terminate => {
                            if let Some(pid) = child.id().and_then(|pid| rustix::process::Pid::from_raw(pid as i32)) {
                                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                            }
                        }
                        Ending::Kill => {
                            let _ = child.start_kill();
                        }
                    },
                }
            };
            let status = match status {
                Ok(status) => status.to_string(),
                Err(error) => format!("cannot wait for it: {error}"),
            };
            tracing::info!(plugin = %name, pid, %status, "plugin process ended");
            let _ = exited.send(Some(status));
        });
        Ok(Process { pid, signals, exit })
    }
}
