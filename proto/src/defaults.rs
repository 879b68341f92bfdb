//! Well-known paths, environment variables and timeouts of NRI, with
//! upstream's values (`shared/reference/nri-upstream.md` §8).

use std::time::Duration;

/// Socket a runtime listens on for external plugins.
pub const DEFAULT_SOCKET_PATH: &str = "/var/run/nri/nri.sock";

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
