//! A scriptable fake NRI plugin, for testing runtimes and NRI setups.
//!
//! [`FakePlugin`] is a plugin whose every answer comes from a [`Script`]:
//! per call (the NRI names: `Configure`, `Synchronize`, `RunPodSandbox`,
//! `CreateContainer`, `ValidateContainerAdjustment`, …), a list of steps.
//! It records every call it receives and what it answered ([`Record`]),
//! and tests await those records instead of sleeping.
//!
//! It implements [`Plugin`], so the stub runs it over any plugin-side
//! transport: `Stub::builder(fake.clone()).build(connector)`. It also runs
//! as a plugin process of its own through [`main`], which `nri-harness`
//! calls when executed as `NN-fake`.
//!
//! # The script
//!
//! ```
//! # use nri_testkit::fake_plugin::{Action, Call, Script};
//! # use nri_core::proto::event::Event;
//! let script: Script = r#"
//! ## Optional: the events to subscribe to. Without it: the events the
//! ## script has a key for (even with an empty list), or, with no event key
//! ## at all, every event (the plugin then only records).
//! events: [RunPodSandbox, CreateContainer, StartContainer, UpdateContainer]
//!
//! ## One key per call, with NRI's name; its steps are tried in order and
//! ## the first that applies is followed. A call no step applies to gets an
//! ## empty reply.
//! CreateContainer:
//!   ## Limited to the container named "web", and to its first 2 calls.
//!   - container: web
//!     times: 2
//!     ## Wait before acting: ns, us, ms, s, m, h, d; decimals; 1m30s.
//!     delay: 150ms
//!     ## Reply: the adjustment in protobuf JSON (any field, .proto names
//!     ## or lowerCamelCase), ...
//!     adjust:
//!       env: [{key: ROLE, value: frontend}]
//!       linux: {resources: {memory: {limit: {value: 268435456}}}}
//!     ## ... updates of other containers (by `container` name, resolved
//!     ## among the containers the plugin has seen, those of the event's
//!     ## pod first, or by `container_id`) ...
//!     update:
//!       - container: sidecar
//!         linux: {resources: {cpu: {shares: {value: 512}}}}
//!     ## ... and evictions.
//!     evict:
//!       - container: batch
//!         reason: make room for web
//!   ## Any other container: fail the call with this message.
//!   - fail: no room on this node
//! StartContainer:
//!   - pod: slow-pod       # limits by pod name, for pod and container events
//!     hang: true          # never answer: the runtime times the plugin out
//!   - times: 1
//!     close: true         # close the connection instead of answering
//!   - crash: 3            # exit the process with code 3 (in-process: close)
//! UpdateContainer:
//!   ## Answer at once, then 200ms later send the runtime an unsolicited
//!   ## UpdateContainers with these updates and evictions.
//!   - update_later:
//!       after: 200ms
//!       update:
//!         - container: web
//!           linux: {resources: {memory: {limit: {value: 536870912}}}}
//! RunPodSandbox: []       # subscribed, no steps: empty replies
//! "#
//! .parse()?;
//!
//! assert_eq!(script.steps(Call::CreateContainer).len(), 2);
//! assert!(matches!(script.steps(Call::StartContainer)[2].action, Action::Crash(3)));
//! assert!(script.subscription().contains(Event::UpdateContainer));
//! assert!(!script.subscription().contains(Event::StopContainer));
//! # Ok::<(), nri_testkit::fake_plugin::ScriptError>(())
//! ```
//!
//! Steps also take `times` and `delay` with any action, and an empty step
//! (`- {}`, or only `delay`) replies empty. Which calls may answer with
//! what: `adjust` only CreateContainer; `update` CreateContainer,
//! UpdateContainer, StopContainer and Synchronize; `evict` CreateContainer
//! and UpdateContainer; `fail` any call but Shutdown (for
//! ValidateContainerAdjustment it rejects the adjustment with the message as
//! the reason; for Configure it fails the registration). A script is
//! untrusted input: anything else is an error that says where
//! ([`ScriptError`]), and so is an unknown key anywhere.
//!
//! # Closing and crashing
//!
//! `close` stops the plugin's stub, which closes the connection: attach
//! the stub's [`Stopper`] with [`FakePlugin::attach`] (a fake plugin
//! without one answers `close` with an error). `crash` exits the process
//! at once with its code, without Shutdown or any cleanup, when the plugin
//! runs as a process ([`main`], or [`FakePlugin::exit_on_crash`]);
//! in-process it closes the connection abruptly, as `close` does, and is
//! recorded as [`Answer::Crashed`].
//!
//! # Script from the runtime
//!
//! A non-empty `config` in the runtime's `ConfigureRequest` (a
//! pre-installed plugin's configuration file) is read as a script (YAML or
//! JSON) and replaces the plugin's own; that script's `Configure` steps
//! then apply to that Configure. A malformed one fails Configure with the
//! parse error's text. An empty config keeps the plugin's script (for a
//! plugin started without one: record only).
//!
//! # Running one
//!
//! ```
//! use std::sync::Arc;
//!
//! use nri_core::stub::Stub;
//! use nri_testkit::fake_plugin::{Call, FakePlugin, Script};
//!
//! # async fn run(connector: Arc<dyn nri_core::transport::Connector>) -> Result<(), Box<dyn std::error::Error>> {
//! let fake = FakePlugin::new(Script::from_yaml("CreateContainer: [{fail: nope}]")?);
//! let stub = Stub::builder(fake.clone()).index("10").name("fake").build(connector)?;
//! fake.attach(stub.stopper());
//! tokio::spawn(async move { stub.run().await });
//! // ... drive the runtime ...
//! let records = fake.wait_until(|r| r.iter().any(|r| r.call == Call::CreateContainer)).await;
//! # let _ = records;
//! # Ok(()) }
//! ```

mod call;
mod engine;
mod names;
mod plugin;
#[cfg(feature = "harness")]
mod process;
mod record;
mod script;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use nri_core::stub::Stopper;

pub use call::Call;
pub use names::UnknownContainer;
#[cfg(feature = "harness")]
#[cfg_attr(docsrs, doc(cfg(feature = "harness")))]
pub use process::main;
pub use record::{Answer, Answered, Delivery, Named, Record};
pub use script::{Action, Changes, Reply, Script, ScriptError, Step, Targeted};

#[cfg(doc)]
use nri_core::stub::Plugin;

/// A plugin that follows a [`Script`] and records what it receives. Clones
/// share everything: keep one to read the records while the stub runs
/// another. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct FakePlugin {
    inner: Arc<engine::Inner>,
}

impl Default for FakePlugin {
    /// A plugin that subscribes to every event and only records.
    fn default() -> Self {
        FakePlugin::new(Script::default())
    }
}

impl FakePlugin {
    /// A plugin following `script`.
    pub fn new(script: Script) -> Self {
        FakePlugin {
            inner: Arc::new(engine::Inner::new(script)),
        }
    }

    /// Makes `crash` exit the process (process mode; [`main`] does it).
    pub fn exit_on_crash(self) -> Self {
        self.inner.exit_on_crash.store(true, Ordering::Relaxed);
        self
    }

    /// Lets the script close the connection: give it the stopper of the
    /// stub running this plugin.
    pub fn attach(&self, stopper: Stopper) {
        self.inner.set_stopper(stopper);
    }

    /// The script followed now (the runtime's configuration may have
    /// replaced the one the plugin started with).
    pub fn script(&self) -> Script {
        self.inner.armed().script.clone()
    }

    /// Every call received so far, in order.
    pub fn records(&self) -> Vec<Record> {
        self.inner.records.borrow().clone()
    }

    /// Waits until at least `count` calls were received, and returns the
    /// records.
    pub async fn wait_for(&self, count: usize) -> Vec<Record> {
        self.wait_until(|records| records.len() >= count).await
    }

    /// Waits until `done` holds of the records, and returns them. Wrap it in
    /// a timeout: it waits for as long as it takes.
    pub async fn wait_until(&self, mut done: impl FnMut(&[Record]) -> bool) -> Vec<Record> {
        let mut watcher = self.inner.records.subscribe();
        let outcome = watcher.wait_for(|records| done(records)).await;
        match outcome {
            Ok(records) => records.clone(),
            // The sender lives as long as `self`: not reached.
            Err(_) => self.records(),
        }
    }
}
