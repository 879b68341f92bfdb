//! `nri-differ`: see [`nri_sample_plugins::commands::differ`].

fn main() -> std::process::ExitCode {
    nri_sample_plugins::commands::differ::main(std::env::args_os())
}
