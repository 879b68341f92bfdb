//! Links the sample plugins with packed relative relocations (ELF
//! `DT_RELR`, `-z pack-relative-relocs`) when building on and for a glibc
//! that loads them (2.36 and later).
//!
//! A position-independent binary carries one 24-byte entry per pointer the
//! loader must adjust at start-up; the echo plugin has about 5,000 of them,
//! and reading them kept 120 KiB of a plugin's resident memory. Packed, the
//! table is a few kilobytes. Binaries built this way need glibc 2.36 or
//! later, so the flag is only passed when the C library they are linked
//! against here has it: like any glibc binary, they then run on that
//! glibc and newer.

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if packed_relocations_load_here() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the binaries are built for this machine's glibc, and it is 2.36
/// or later.
fn packed_relocations_load_here() -> bool {
    let var = |name: &str| env::var(name).unwrap_or_default();
    let native_gnu = var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && var("HOST") == var("TARGET");
    native_gnu && glibc_version().is_some_and(|version| version >= (2, 36))
}

/// This machine's glibc version, from `getconf GNU_LIBC_VERSION` (which
/// prints, for example, `glibc 2.36`).
fn glibc_version() -> Option<(u32, u32)> {
    let output = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let mut numbers = text.trim().strip_prefix("glibc ")?.split('.');
    let major = numbers.next()?.parse().ok()?;
    let minor = numbers.next()?.parse().ok()?;
    Some((major, minor))
}
