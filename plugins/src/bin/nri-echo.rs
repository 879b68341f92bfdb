//! `nri-echo`: see [`nri_sample_plugins::commands::echo`].

// With the `mimalloc` feature (on in the deployed build, `cargo xtask
// plugins`; an event's request decodes into many small
// allocations): `nri-harness bench --plugins 1`, medians of 3 alternated
// with the default build, 12.9 -> 11.2 µs of plugin CPU per event and
// 4420 -> 4764 KiB peak resident memory.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    nri_sample_plugins::commands::echo::main(std::env::args_os())
}
