//! `nri-cri-proxy`: NRI in front of any CRI runtime; see
//! [`nri_cri::proxy::cli`].

fn main() -> std::process::ExitCode {
    nri_cri::proxy::cli::main(std::env::args_os().collect())
}
