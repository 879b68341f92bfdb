//! The NRI runtime simulator behind `nri-harness`: replays a [`Scenario`]
//! of pod and container lifecycles against real plugins, through nri-core's
//! runtime API layer with a [`FakeDomain`](crate::domain::FakeDomain) as
//! the runtime, and records everything that crossed the transport.
//!
//! ```no_run
//! # async fn example() -> Result<(), nri_testkit::simulator::SimulatorError> {
//! use nri_testkit::simulator::{self, RunOptions, Scenario};
//!
//! let scenario = Scenario::default_scenario()?;
//! let outcome = simulator::run(&scenario, &RunOptions::default()).await?;
//! print!("{}", simulator::report::render(&outcome));
//! assert!(!outcome.failed());
//! # Ok(()) }
//! ```
//!
//! | module | holds |
//! |---|---|
//! | [`scenario`] | the scenario file format |
//! | [`runner`] | replaying a scenario |
//! | [`recorder`] | the transport wrapper that records calls |
//! | [`outcome`] | what a run produced (`--json`) |
//! | [`report`] | the readable report |
//! | [`expect`] | matching `expect:` blocks |
//! | [`bench`](mod@bench) | `nri-harness bench` |
//! | [`setup`] | the run's directories and plugin links |

pub mod bench;
pub mod expect;
pub mod outcome;
pub mod raw_echo;
pub mod recorder;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod setup;

use std::path::PathBuf;
use std::time::Duration;

pub use outcome::Outcome;
pub use runner::run;
pub use scenario::{Scenario, ScenarioError};

/// Which transport carries NRI between the simulated runtime and plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TransportKind {
    /// The upstream wire protocol over a unix socket (`nri-transport-ttrpc`).
    #[default]
    Ttrpc,
    /// gRPC (`nri-transport-grpc`).
    Grpc,
    /// nri-core's in-process transport, plugins inside the harness
    /// (`bench` only).
    Local,
    /// WASM plugins loaded into the harness (`nri-transport-wasm`;
    /// `bench` only: `run` loads WASM files next to every transport).
    Wasm,
}

impl TransportKind {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Ttrpc => "ttrpc",
            TransportKind::Grpc => "grpc",
            TransportKind::Local => "local",
            TransportKind::Wasm => "wasm",
        }
    }
}

/// How to run a scenario, beyond the scenario itself.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The transport.
    pub transport: TransportKind,
    /// The runtime's socket (default: in the run's temporary directory).
    pub socket: Option<PathBuf>,
    /// Externally started plugins to wait for before the first step.
    pub external: usize,
    /// How long to wait for them (default 60 s).
    pub external_timeout: Option<Duration>,
    /// A directory of more pre-installed plugins (`NN-name` executables).
    pub plugin_dir: Option<PathBuf>,
    /// More plugin command lines, launched as pre-installed plugins.
    pub plugins: Vec<String>,
    /// Let launched plugins write to the harness's standard error.
    pub plugin_stderr: bool,
    /// Print a line per step to standard error as the run goes.
    pub progress: bool,
    /// Where the WASM transport caches compiled modules (none: compiled
    /// at every load).
    pub wasm_cache: Option<PathBuf>,
}

/// Why a run could not be carried out (as opposed to a run whose steps
/// failed, which is an [`Outcome`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulatorError {
    /// The scenario is not valid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The run's directories or plugins could not be set up.
    #[error("{0}")]
    Setup(String),
    /// The transport cannot be used for this command.
    #[error("the {0} transport is for bench only; run takes ttrpc or grpc")]
    BenchOnly(&'static str),
    /// The runtime could not start.
    #[error("the simulated runtime could not start: {0}")]
    Start(String),
    /// External plugins did not connect in time.
    #[error("{connected} of {wanted} external plugins connected to {socket} within {waited:?}")]
    External {
        /// How many were expected.
        wanted: usize,
        /// How many connected.
        connected: usize,
        /// The socket they were to connect to.
        socket: String,
        /// How long the harness waited.
        waited: Duration,
    },
}
