//! `nri-echo`: see [`nri_sample_plugins::commands::echo`].

fn main() -> std::process::ExitCode {
    nri_sample_plugins::commands::echo::main(std::env::args_os())
}
