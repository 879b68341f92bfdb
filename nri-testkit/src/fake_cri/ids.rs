//! What the fake makes up for pods and containers, deterministically:
//! 64-hex ids, image ids, pod IPs and strictly increasing timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// Hands out what a runtime would allocate. Two fresh allocators hand out
/// the same sequence.
#[derive(Debug, Default)]
pub(crate) struct Allocator {
    /// Ids handed out so far (pods and containers share the sequence, as
    /// they share containerd's id space).
    ids: u64,
    /// Pod IPs handed out so far.
    ips: u32,
    /// The last timestamp handed out.
    last_nanos: i64,
}

impl Allocator {
    /// A new 64-hex id, such as containerd gives pods and containers.
    pub(crate) fn id(&mut self) -> String {
        self.ids += 1;
        hex256(self.ids)
    }

    /// The next pod IP: 10.88.0.2, 10.88.0.3, … (containerd's default CNI
    /// network, 10.88.0.1 being its bridge), on through 10.88.255.254.
    pub(crate) fn pod_ip(&mut self) -> String {
        // 250 hosts per /24 keeps clear of .0, .1 and .255.
        let index = self.ips;
        self.ips = self.ips.wrapping_add(1);
        format!("10.88.{}.{}", (index / 250) % 256, index % 250 + 2)
    }

    /// Now, in nanoseconds since the epoch, and later than every timestamp
    /// handed out before (the clock may be coarse; tests compare them).
    pub(crate) fn now(&mut self) -> i64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
            });
        self.last_nanos = now.max(self.last_nanos.saturating_add(1));
        self.last_nanos
    }
}

/// The image id the fake reports for `image`: `sha256:` and 64 hex
/// digits derived from the name (not a digest of anything).
pub(crate) fn image_id(image: &str) -> String {
    // FNV-1a, then spread over 256 bits.
    let hash = image.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("sha256:{}", hex256(hash))
}

/// 64 hex digits spread from `seed` by SplitMix64.
fn hex256(seed: u64) -> String {
    let mut state = seed;
    (0..4)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            format!("{:016x}", z ^ (z >> 31))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn ids_are_64_hex_distinct_and_deterministic() {
        let mut first = Allocator::default();
        let ids: Vec<String> = (0..1000).map(|_| first.id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 64, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
        let mut second = Allocator::default();
        assert_eq!(second.id(), ids[0]);
    }

    #[test]
    fn pod_ips_start_after_the_bridge_and_stay_in_range() {
        let mut allocator = Allocator::default();
        let ips: Vec<String> = (0..600).map(|_| allocator.pod_ip()).collect();
        assert_eq!(ips[0], "10.88.0.2");
        assert_eq!(ips[1], "10.88.0.3");
        assert_eq!(ips[249], "10.88.0.251");
        assert_eq!(ips[250], "10.88.1.2");
        assert_eq!(ips.iter().collect::<BTreeSet<_>>().len(), ips.len());
        for ip in &ips {
            assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
        }
    }

    #[test]
    fn timestamps_strictly_increase() {
        let mut allocator = Allocator::default();
        let mut last = 0;
        for _ in 0..1000 {
            let now = allocator.now();
            assert!(now > last);
            last = now;
        }
        // After 2001 by far.
        assert!(last > 1_000_000_000_000_000_000);
    }

    #[test]
    fn image_ids_depend_on_the_name_only() {
        let id = image_id("docker.io/library/nginx:1.27");
        assert!(id.starts_with("sha256:") && id.len() == 7 + 64, "{id}");
        assert_eq!(id, image_id("docker.io/library/nginx:1.27"));
        assert_ne!(id, image_id("docker.io/library/nginx:1.28"));
    }
}
