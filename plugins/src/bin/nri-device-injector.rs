//! `nri-device-injector`: see [`nri_sample_plugins::commands::device_injector`].

fn main() -> std::process::ExitCode {
    nri_sample_plugins::commands::device_injector::main(std::env::args_os())
}
