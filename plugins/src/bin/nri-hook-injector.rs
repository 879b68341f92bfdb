//! `nri-hook-injector`: see [`nri_sample_plugins::commands::hook_injector`].

fn main() -> std::process::ExitCode {
    nri_sample_plugins::commands::hook_injector::main(std::env::args_os())
}
