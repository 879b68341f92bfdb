//! `nri-hook-injector`: injects OCI hooks from the standard hook
//! directories into containers being created ([`crate::hook_injector`]).
//!
//! The directories are read at start (an invalid hook file there is an
//! error, as upstream's start-up is) and read again when one of them
//! changes, checked on each CreateContainer (upstream watches them with
//! inotify; `--disable-watch` turns this off as its `-disableWatch` does).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use crate::cli::{self, CommonArgs};
use crate::hook_injector::{DEFAULT_DIRS, HookSet};
use clap::Parser;
use nri_core::proto::api::{Container, CreateContainerResponse, PodSandbox};
use nri_core::stub::{HandlerResult, Plugin};

/// Injects OCI hooks into containers.
#[derive(Debug, Parser)]
#[command(name = "nri-hook-injector", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// A hook directory; later ones override earlier ones (default: the
    /// standard two).
    #[arg(long = "hooks-dir")]
    hooks_dirs: Vec<PathBuf>,
    /// Do not read the directories again when they change.
    #[arg(long)]
    disable_watch: bool,
}

struct HookInjector {
    dirs: Vec<PathBuf>,
    watch: bool,
    state: Mutex<(HookSet, Stamps)>,
}

/// Every directory's and hook file's modification time: what changes
/// when a hook file is added, removed or edited.
type Stamps = Vec<(PathBuf, Option<SystemTime>)>;

fn stamps(dirs: &[PathBuf]) -> Stamps {
    let modified = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut stamps = Vec::new();
    for dir in dirs {
        stamps.push((dir.clone(), modified(dir)));
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        for file in files {
            let stamp = modified(&file);
            stamps.push((file, stamp));
        }
    }
    stamps
}

impl HookInjector {
    fn hooks(&self) -> HookSet {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if self.watch {
            let now = stamps(&self.dirs);
            if now != state.1 {
                let (hooks, problems) = HookSet::reload(&self.dirs);
                for problem in problems {
                    tracing::warn!(%problem, "skipping a hook file");
                }
                tracing::info!(
                    hooks = hooks.len(),
                    "hook directories changed; hooks read again"
                );
                *state = (hooks, now);
            }
        }
        state.0.clone()
    }
}

#[nri_core::plugin]
impl Plugin for HookInjector {
    async fn create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        let adjust = self.hooks().adjustment_for(&pod, &container)?;
        if adjust.is_some() {
            tracing::info!(pod = %pod.name, container = %container.name, "injecting hooks");
        }
        Ok(CreateContainerResponse {
            adjust,
            ..Default::default()
        })
    }
}

/// Runs the plugin with these command-line arguments (the first is the
/// program's name), until the runtime goes away or a signal.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = Args::parse_from(args);
    let dirs = if args.hooks_dirs.is_empty() {
        DEFAULT_DIRS.iter().map(PathBuf::from).collect()
    } else {
        args.hooks_dirs.clone()
    };
    let loaded = HookSet::load(&dirs);
    let hooks = match loaded {
        Ok((hooks, warnings)) => {
            for warning in warnings {
                eprintln!("nri-hook-injector: warning: {warning}");
            }
            hooks
        }
        Err(error) => {
            eprintln!("nri-hook-injector: {error}");
            return ExitCode::FAILURE;
        }
    };
    let plugin = HookInjector {
        state: Mutex::new((hooks, stamps(&dirs))),
        dirs,
        watch: !args.disable_watch,
    };
    cli::run(plugin, &args.common, |stub| stub)
}
