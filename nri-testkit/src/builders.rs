//! Realistic pods and containers: nri-proto's [`builders`](nri_core::proto::builders),
//! re-exported here where tests have always found them. Runtimes use them
//! from `nri_proto::builders` (or `nri_core::proto::builders`) without the
//! testkit.
//!
//! ```
//! use nri_testkit::builders::{ContainerBuilder, PodBuilder};
//!
//! let pod = PodBuilder::new("web").namespace("shop").build();
//! let app = ContainerBuilder::new(&pod, "app").build();
//! assert_eq!(app.pod_sandbox_id, pod.id);
//! ```

pub use nri_core::proto::builders::*;
