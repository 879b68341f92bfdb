//! `nri-bench-runtime`: the runtime side of `nri-harness bench` over ttrpc,
//! in a process of its own, so that the runtime's memory and CPU time the
//! bench prints are those of nri-core, the ttrpc transport and the fake
//! domain, not of the whole harness. `nri-harness bench` runs it when it
//! lies next to `nri-harness`; it takes the bench's options as JSON (its
//! only argument) and prints the result as JSON. Under the name
//! `nri-raw-echo` it is the bench's raw round-trip peer.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use nri_testkit::simulator::bench::{self, BenchOptions};
use nri_testkit::simulator::raw_echo;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let program = args.first().map(Path::new).and_then(Path::file_name);
    if program.is_some_and(|name| name == "nri-raw-echo") {
        return raw_echo::main(args);
    }
    let Some(options) = args.get(1).and_then(|arg| arg.to_str()) else {
        eprintln!(
            "usage: {} OPTIONS-JSON (nri-harness bench runs it)",
            bench::RUNTIME
        );
        return ExitCode::from(2);
    };
    let options: BenchOptions = match serde_json::from_str(options) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("{}: bad options: {error}", bench::RUNTIME);
            return ExitCode::from(2);
        }
    };
    exit_with_parent();
    // One thread, as in nri-harness: the runtime's tasks and its socket
    // I/O run where the events are sent.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!(
                "{}: cannot start the async runtime: {error}",
                bench::RUNTIME
            );
            return ExitCode::from(2);
        }
    };
    let result = match runtime.block_on(bench::run_ttrpc(&options)) {
        Ok(result) => result,
        Err(error) => {
            eprintln!("{}: {error}", bench::RUNTIME);
            return ExitCode::from(2);
        }
    };
    match serde_json::to_string(&result) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{}: cannot write the result: {error}", bench::RUNTIME);
            ExitCode::from(2)
        }
    }
}

/// Ends this process once the nri-harness that started it is gone (say,
/// killed before it could stop the bench): otherwise the runtime would run
/// its lifecycles, or wait for its plugins, to the end for nobody. Its
/// plugins then see their connection close and end too. A thread that
/// looks at the parent five times a second, asleep in between: not in the
/// way of the bench's one async thread.
fn exit_with_parent() {
    let parent = std::os::unix::process::parent_id();
    let watcher = std::thread::Builder::new()
        .name("parent-watch".into())
        .stack_size(64 << 10)
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(200));
                if std::os::unix::process::parent_id() != parent {
                    eprintln!("{}: the process that started it ended", bench::RUNTIME);
                    std::process::exit(2);
                }
            }
        });
    if let Err(error) = watcher {
        eprintln!(
            "{}: cannot watch its parent ({error}); it will not stop early if nri-harness dies",
            bench::RUNTIME
        );
    }
}
