//! `nri-template`: see [`nri_plugins::commands::template`].

fn main() -> std::process::ExitCode {
    nri_plugins::commands::template::main(std::env::args_os())
}
