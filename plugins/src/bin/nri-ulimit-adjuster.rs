//! `nri-ulimit-adjuster`: see [`nri_sample_plugins::commands::ulimit_adjuster`].

fn main() -> std::process::ExitCode {
    nri_sample_plugins::commands::ulimit_adjuster::main(std::env::args_os())
}
