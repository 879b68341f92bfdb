//! How much memory a process (a plugin under test) holds, from
//! `/proc/<pid>/status`.

/// A process's resident memory, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resident {
    /// Resident now (`VmRSS`).
    pub now_kib: u64,
    /// The most it was resident (`VmHWM`).
    pub peak_kib: u64,
    /// Of `now_kib`, pages of the process's own (`RssAnon`: heap, stacks,
    /// written data).
    pub anon_kib: u64,
    /// Of `now_kib`, pages of mapped files (`RssFile`: the executable's and
    /// the shared libraries' code and read-only data, shared with every
    /// process that maps them).
    pub file_kib: u64,
}

/// The resident memory of process `pid`.
pub fn resident(pid: u32) -> std::io::Result<Resident> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("no {name} in /proc/{pid}/status"),
                )
            })
    };
    Ok(Resident {
        now_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
        anon_kib: field("RssAnon:")?,
        file_kib: field("RssFile:")?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_is_resident() {
        let me = super::resident(std::process::id()).unwrap_or_else(|e| panic!("{e}"));
        assert!(me.now_kib > 0 && me.peak_kib >= me.now_kib, "{me:?}");
        assert!(me.anon_kib + me.file_kib <= me.now_kib, "{me:?}");
        assert!(me.anon_kib > 0 && me.file_kib > 0, "{me:?}");
    }
}
