//! `nri-differ`: see [`nri_plugins::commands::differ`].

fn main() -> std::process::ExitCode {
    nri_plugins::commands::differ::main(std::env::args_os())
}
