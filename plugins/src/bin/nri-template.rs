//! `nri-template`: see [`nri_sample_plugins::template`]. A plugin of your own
//! starts from the repository's `examples/rust/plugin.rs` instead: this
//! binary runs the sample through the samples' shared command line.

fn main() -> std::process::ExitCode {
    nri_sample_plugins::commands::template::main(std::env::args_os())
}
