//! [`ScriptedPlugin`]: a plugin whose answer to each method is scripted, and
//! which records every request it receives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use nri_core::proto::api::{ConfigureResponse, UpdateContainersRequest};
use nri_core::proto::event::EventMask;
use nri_core::transport::PluginHandler;
use nri_core::transport::{
    CallError, Method, PluginRequest, PluginResponse, RuntimeRequest, RuntimeResponse,
};
use tokio::sync::watch;

use super::harness::PluginEnd;

/// gRPC status code `Unknown`, what a plugin's plain error becomes on the wire.
const UNKNOWN: i32 = 2;

/// A reply computed from the request.
pub type Handler = Arc<dyn Fn(&PluginRequest) -> Result<PluginResponse, CallError> + Send + Sync>;

/// How a [`ScriptedPlugin`] answers one method.
#[derive(Clone)]
pub enum Behaviour {
    /// Replies with this response.
    Reply(PluginResponse),
    /// Replies with what the handler computes from the request.
    With(Handler),
    /// Answers an error status (code 2, `Unknown`) with this message.
    Fail(String),
    /// Never answers.
    Hang,
    /// Panics in the handler.
    Panic,
    /// Disconnects from the runtime in the middle of the call, then never
    /// answers.
    Disconnect,
    /// Answers "not implemented" (status code 12), as an old plugin does.
    Unimplemented,
    /// Calls the runtime's `UpdateContainers` from inside the handler, keeps
    /// its answer (see [`ScriptedPlugin::runtime_answers`]), then replies.
    UpdateThenReply(UpdateContainersRequest, PluginResponse),
}

impl std::fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Behaviour::Reply(_) => "Reply",
            Behaviour::With(_) => "With",
            Behaviour::Fail(_) => "Fail",
            Behaviour::Hang => "Hang",
            Behaviour::Panic => "Panic",
            Behaviour::Disconnect => "Disconnect",
            Behaviour::Unimplemented => "Unimplemented",
            Behaviour::UpdateThenReply(..) => "UpdateThenReply",
        };
        f.write_str(name)
    }
}

/// A log shared by several plugins, to check the order they are called in.
/// Entries read `NN-name:Method`.
#[derive(Debug, Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    /// Everything recorded so far, in order.
    pub fn entries(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn record(&self, entry: String) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }
}

/// A plugin with an index, a name, an event mask and a scripted
/// [`Behaviour`] per method. Methods without a script get an empty reply
/// (Configure: the event mask).
pub struct ScriptedPlugin {
    index: String,
    name: String,
    events: EventMask,
    behaviours: Mutex<HashMap<Method, Behaviour>>,
    received: watch::Sender<Vec<PluginRequest>>,
    journal: Option<Journal>,
    end: Mutex<Option<Weak<dyn PluginEnd>>>,
    answers: Mutex<Vec<Result<RuntimeResponse, CallError>>>,
}

impl std::fmt::Debug for ScriptedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedPlugin")
            .field("plugin", &self.label())
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl ScriptedPlugin {
    /// A plugin `index-name` subscribing to `events` (what it answers to
    /// Configure; [`EventMask::NONE`] means every event).
    pub fn new(index: &str, name: &str, events: EventMask) -> Self {
        ScriptedPlugin {
            index: index.to_string(),
            name: name.to_string(),
            events,
            behaviours: Mutex::new(HashMap::new()),
            received: watch::channel(Vec::new()).0,
            journal: None,
            end: Mutex::new(None),
            answers: Mutex::new(Vec::new()),
        }
    }

    /// Scripts the answer to `method`.
    #[must_use]
    pub fn on(self, method: Method, behaviour: Behaviour) -> Self {
        self.set(method, behaviour);
        self
    }

    /// Records every call in `journal` too.
    #[must_use]
    pub fn with_journal(mut self, journal: Journal) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Changes the answer to `method` from now on.
    pub fn set(&self, method: Method, behaviour: Behaviour) {
        self.behaviours
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(method, behaviour);
    }

    /// The index it registers with.
    pub fn index(&self) -> &str {
        &self.index
    }

    /// The name it registers with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `NN-name`.
    pub fn label(&self) -> String {
        format!("{}-{}", self.index, self.name)
    }

    /// Gives the plugin its end of the connection, for
    /// [`Behaviour::Disconnect`] and [`Behaviour::UpdateThenReply`]. Only a
    /// weak reference is kept.
    pub fn attach(&self, end: &Arc<dyn PluginEnd>) {
        *self.end.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::downgrade(end));
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<PluginRequest> {
        self.received.borrow().clone()
    }

    /// The methods called so far, in order.
    pub fn calls(&self) -> Vec<Method> {
        self.received.borrow().iter().map(|r| r.method()).collect()
    }

    /// Takes the requests received so far, leaving the record empty.
    pub fn take(&self) -> Vec<PluginRequest> {
        let mut taken = Vec::new();
        self.received
            .send_modify(|received| taken = std::mem::take(received));
        taken
    }

    /// Waits until at least `count` requests are on record.
    pub async fn wait_received(&self, count: usize) {
        let mut watcher = self.received.subscribe();
        let _ = watcher.wait_for(|received| received.len() >= count).await;
    }

    /// What the runtime answered to the calls of
    /// [`Behaviour::UpdateThenReply`], in order.
    pub fn runtime_answers(&self) -> Vec<Result<RuntimeResponse, CallError>> {
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn end(&self) -> Option<Arc<dyn PluginEnd>> {
        self.end
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(Weak::upgrade)
    }

    fn behaviour(&self, method: Method) -> Option<Behaviour> {
        self.behaviours
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&method)
            .cloned()
    }

    fn default_reply(&self, method: Method) -> PluginResponse {
        use PluginResponse as R;
        match method {
            Method::Configure => R::Configure(Box::new(ConfigureResponse {
                events: self.events.bits(),
            })),
            Method::Synchronize => R::Synchronize(Box::default()),
            Method::Shutdown => R::Shutdown(Box::default()),
            Method::RunPodSandbox => R::RunPodSandbox(Box::default()),
            Method::UpdatePodSandbox => R::UpdatePodSandbox(Box::default()),
            Method::PostUpdatePodSandbox => R::PostUpdatePodSandbox(Box::default()),
            Method::StopPodSandbox => R::StopPodSandbox(Box::default()),
            Method::RemovePodSandbox => R::RemovePodSandbox(Box::default()),
            Method::CreateContainer => R::CreateContainer(Box::default()),
            Method::PostCreateContainer => R::PostCreateContainer(Box::default()),
            Method::StartContainer => R::StartContainer(Box::default()),
            Method::PostStartContainer => R::PostStartContainer(Box::default()),
            Method::UpdateContainer => R::UpdateContainer(Box::default()),
            Method::PostUpdateContainer => R::PostUpdateContainer(Box::default()),
            Method::StopContainer => R::StopContainer(Box::default()),
            Method::RemoveContainer => R::RemoveContainer(Box::default()),
            Method::StateChange => R::StateChange(Box::default()),
            Method::ValidateContainerAdjustment => R::ValidateContainerAdjustment(Box::default()),
        }
    }

    async fn call_runtime(&self, request: UpdateContainersRequest) {
        let answer = match self.end() {
            Some(end) => {
                end.call(
                    RuntimeRequest::UpdateContainers(request),
                    Duration::from_secs(2),
                )
                .await
            }
            None => Err(CallError::Closed {
                reason: nri_core::transport::CloseReason::Failed(
                    "the plugin has no end attached".into(),
                ),
            }),
        };
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(answer);
    }
}

#[async_trait::async_trait]
impl PluginHandler for ScriptedPlugin {
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        let method = request.method();
        if let Some(journal) = &self.journal {
            journal.record(format!("{}:{}", self.label(), method.name()));
        }
        let behaviour = self.behaviour(method);
        self.received
            .send_modify(|received| received.push(request.clone()));
        match behaviour {
            None => Ok(self.default_reply(method)),
            Some(Behaviour::Reply(reply)) => Ok(reply),
            Some(Behaviour::With(handler)) => handler(&request),
            Some(Behaviour::Fail(message)) => Err(CallError::Failed {
                code: UNKNOWN,
                message,
            }),
            Some(Behaviour::Hang) => std::future::pending().await,
            Some(Behaviour::Panic) => {
                panic!("{}: scripted panic in {}", self.label(), method.name())
            }
            Some(Behaviour::Disconnect) => {
                if let Some(end) = self.end() {
                    end.disconnect().await;
                }
                std::future::pending().await
            }
            Some(Behaviour::Unimplemented) => Err(CallError::Unimplemented {
                method: method.name().to_string(),
            }),
            Some(Behaviour::UpdateThenReply(update, reply)) => {
                self.call_runtime(update).await;
                Ok(reply)
            }
        }
    }
}
