//! The floor under a plugin call: a raw round trip of a 2.8 KB request and
//! a 30-byte reply over a unix socket to another process, with no protocol
//! at all. `nri-harness bench` measures it in the same run as the events,
//! against a child process that is the harness itself in the `raw-echo`
//! role (`nri-raw-echo SOCKET`), on the same kind of single-threaded async
//! runtime as the plugins, so the ratio of an event's latency to it is what
//! NRI adds to the socket.
//!
//! It is not an NRI plugin and speaks no protocol (no ttrpc, no protobuf),
//! so it is not a second echo plugin: the echo plugin the bench measures is
//! `nri-sample-plugins`' `nri-echo`.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::SimulatorError;

/// Bytes of each request (about a CreateContainer on the wire).
pub const REQUEST: usize = 2_800;
/// Bytes of each reply.
pub const REPLY: usize = 30;

/// The `raw-echo` role: connects to the socket named by the first argument
/// and answers every [`REQUEST`] bytes with [`REPLY`] bytes until the
/// other end closes.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let Some(socket) = args.get(1) else {
        eprintln!("usage: nri-raw-echo SOCKET");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("nri-raw-echo: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let mut stream = tokio::net::UnixStream::connect(socket).await?;
        let mut request = vec![0u8; REQUEST];
        let reply = [7u8; REPLY];
        loop {
            match stream.read_exact(&mut request).await {
                Ok(_) => stream.write_all(&reply).await?,
                Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(());
                }
                Err(error) => return Err(error),
            }
        }
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nri-raw-echo: {error}");
            ExitCode::FAILURE
        }
    }
}

/// How long raw round trips run, untimed, before the floor's are timed.
///
/// The events run for seconds, in the steady state a busy pair of
/// processes reaches; a pair that has just started is placed differently
/// by the scheduler. On this project's two-CPU VMs a fresh pair shares a
/// CPU (round trips of about 16 µs) until its load builds up, and then
/// spreads over both (about 41 µs, where the events run): timed at once,
/// the floor caught one, the other or a mix (medians from 13 to 51 µs in
/// consecutive runs); timed in short slices between the lifecycles, only
/// the first.
pub const WARM_UP: Duration = Duration::from_millis(300);

/// The floor's round trips and what they cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Floor {
    /// Each timed round trip.
    pub times: Vec<Duration>,
    /// CPU time (user and system) this process spent in them, in
    /// nanoseconds.
    pub runtime_cpu_ns: Option<u64>,
    /// CPU time the echoing child spent in them, in nanoseconds.
    pub echo_cpu_ns: Option<u64>,
}

/// Times `count` raw round trips to a `raw-echo` child started from this
/// executable, listening in `dir`, after [`WARM_UP`] of them untimed.
pub async fn floor(dir: &Path, count: usize) -> Result<Floor, SimulatorError> {
    let mut echo = RawEcho::start(dir).await?;
    let mut discarded = Vec::with_capacity(64);
    let warming = Instant::now();
    while warming.elapsed() < WARM_UP {
        discarded.clear();
        echo.time(64, &mut discarded).await?;
    }
    let cpu = |pid: Option<u32>| pid.and_then(|pid| super::bench::cpu_ns(pid).ok());
    let pids = (Some(std::process::id()), echo.pid());
    let before = (cpu(pids.0), cpu(pids.1));
    let mut times = Vec::with_capacity(count);
    echo.time(count, &mut times).await?;
    let after = (cpu(pids.0), cpu(pids.1));
    echo.stop().await;
    let spent = |before: Option<u64>, after: Option<u64>| {
        before
            .zip(after)
            .map(|(before, after)| after.saturating_sub(before))
    };
    Ok(Floor {
        times,
        runtime_cpu_ns: spent(before.0, after.0),
        echo_cpu_ns: spent(before.1, after.1),
    })
}

/// A `raw-echo` child started from this executable and connected: the
/// floor's other end.
struct RawEcho {
    stream: tokio::net::UnixStream,
    child: tokio::process::Child,
    request: Vec<u8>,
}

impl RawEcho {
    /// Starts the child, listening in `dir`, and waits (at most 10 s) for
    /// it to connect.
    async fn start(dir: &Path) -> Result<Self, SimulatorError> {
        let path = dir.join("raw-echo.sock");
        let listener = tokio::net::UnixListener::bind(&path)
            .map_err(|e| setup("cannot bind the raw socket", e))?;
        let program =
            std::env::current_exe().map_err(|e| setup("cannot find this executable", e))?;
        let mut command = std::process::Command::new(program);
        command.arg0("nri-raw-echo").arg(&path);
        let child = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| setup("cannot start nri-raw-echo", e))?;
        let accepted = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await;
        let stream = match accepted {
            Ok(Ok((stream, _))) => stream,
            Ok(Err(error)) => return Err(setup("cannot accept nri-raw-echo", error)),
            Err(_) => {
                return Err(SimulatorError::Setup(
                    "nri-raw-echo did not connect within 10 s".into(),
                ));
            }
        };
        Ok(RawEcho {
            stream,
            child,
            request: vec![1u8; REQUEST],
        })
    }

    /// The child's process id (`None` once it has been reaped).
    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Times `count` round trips, appending each one's time to `times`.
    async fn time(
        &mut self,
        count: usize,
        times: &mut Vec<Duration>,
    ) -> Result<(), SimulatorError> {
        let mut reply = [0u8; REPLY];
        for _ in 0..count {
            let started = Instant::now();
            self.stream
                .write_all(&self.request)
                .await
                .map_err(|e| setup("raw round trip", e))?;
            self.stream
                .read_exact(&mut reply)
                .await
                .map_err(|e| setup("raw round trip", e))?;
            times.push(started.elapsed());
        }
        Ok(())
    }

    /// Closes the connection, which ends the child, and reaps it (waiting
    /// at most 5 s; it is killed when dropped).
    async fn stop(self) {
        let RawEcho {
            stream, mut child, ..
        } = self;
        drop(stream);
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    }
}

fn setup(what: &str, error: std::io::Error) -> SimulatorError {
    SimulatorError::Setup(format!("{what}: {error}"))
}
