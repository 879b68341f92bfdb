//! `nri-logger`: see [`nri_sample_plugins::commands::logger`].

fn main() -> std::process::ExitCode {
    nri_sample_plugins::commands::logger::main(std::env::args_os())
}
