//! Well-known names, paths, environment variables and timeouts of NRI,
//! with upstream's values (containerd/nri `pkg/adaptation/adaptation.go`,
//! `pkg/api/plugin.go` and `pkg/stub/stub.go`), plus the names nri-rs adds
//! for NRI over gRPC. Every crate takes them from here.

use std::time::Duration;

/// The NRI version nri-rs implements (upstream v0.12.2's wire): what a
/// runtime sends in Configure and a plugin in RegisterPlugin.
pub const NRI_VERSION: &str = "v0.12.2";

/// Socket a runtime listens on for external plugins.
pub const DEFAULT_SOCKET_PATH: &str = "/var/run/nri/nri.sock";

/// Socket an nri-rs runtime serves NRI over gRPC on (the ttrpc socket's
/// directory, another name).
pub const DEFAULT_GRPC_SOCKET_PATH: &str = "/var/run/nri/nri-grpc.sock";

/// The `Plugin` service's full name: plugins serve it, the runtime calls it.
pub const PLUGIN_SERVICE: &str = "nri.pkg.api.v1alpha1.Plugin";

/// The `Runtime` service's full name: the runtime serves it, plugins call
/// it.
pub const RUNTIME_SERVICE: &str = "nri.pkg.api.v1alpha1.Runtime";

/// Directory a runtime launches pre-installed plugins from.
pub const DEFAULT_PLUGIN_PATH: &str = "/opt/nri/plugins";

/// Directory of pre-installed plugins' configuration files
/// (`NN-name.conf`, then `name.conf`).
pub const DEFAULT_PLUGIN_CONFIG_PATH: &str = "/etc/nri/conf.d";

/// Environment variable carrying a launched plugin's name.
pub const PLUGIN_NAME_ENV: &str = "NRI_PLUGIN_NAME";

/// Environment variable carrying a launched plugin's index.
pub const PLUGIN_IDX_ENV: &str = "NRI_PLUGIN_IDX";

/// Environment variable naming the file descriptor of a launched plugin's
/// connection to the runtime.
pub const PLUGIN_SOCKET_ENV: &str = "NRI_PLUGIN_SOCKET";

/// File descriptor a runtime hands a launched plugin its connection on.
pub const PLUGIN_SOCKET_FD: i32 = 3;

/// How long a plugin may take from connecting to being synchronized.
pub const DEFAULT_REGISTRATION_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a plugin may take to answer one request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
