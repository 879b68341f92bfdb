//! The fake plugin's state and how it follows its script for one call.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nri_core::proto::api::{Container, ContainerEviction, ContainerUpdate, PodSandbox};
use nri_core::stub::{HandlerError, RuntimeClient, Stopper};
use tokio::sync::watch;
use tracing::Instrument;

use super::call::Call;
use super::names::{Names, UnknownContainer};
use super::record::{Answer, Answered, Delivery, Named, Record};
use super::script::{Action, Changes, Script, Step, Targeted};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A script with the count of calls each step applied to.
#[derive(Debug)]
pub(crate) struct Armed {
    pub(crate) script: Script,
    used: BTreeMap<Call, Vec<AtomicU32>>,
}

impl Armed {
    pub(crate) fn new(script: Script) -> Self {
        let used = Call::ALL
            .into_iter()
            .map(|call| {
                let counts = script.steps(call).iter().map(|_| AtomicU32::new(0));
                (call, counts.collect())
            })
            .collect();
        Armed { script, used }
    }

    /// The first step of `call` that applies to a call about `pod` and
    /// `container` and has calls left, counting the call against it.
    pub(crate) fn pick(
        &self,
        call: Call,
        pod: Option<&PodSandbox>,
        container: Option<&Container>,
    ) -> Option<(usize, Step)> {
        let counts = self.used.get(&call)?;
        self.script
            .steps(call)
            .iter()
            .zip(counts)
            .enumerate()
            .find(|(_, (step, used))| {
                let named = |filter: &Option<String>, name: Option<&String>| {
                    filter.as_ref().is_none_or(|f| name == Some(f))
                };
                named(&step.pod, pod.map(|p| &p.name))
                    && named(&step.container, container.map(|c| &c.name))
                    && used
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                            step.times.is_none_or(|times| n < times).then_some(n + 1)
                        })
                        .is_ok()
            })
            .map(|(index, (step, _))| (index, step.clone()))
    }
}

/// Everything a fake plugin keeps, shared by its clones.
#[derive(Debug)]
pub(crate) struct Inner {
    armed: Mutex<Arc<Armed>>,
    names: Mutex<Names>,
    pub(crate) records: watch::Sender<Vec<Record>>,
    runtime: Mutex<Option<RuntimeClient>>,
    stopper: Mutex<Option<Stopper>>,
    pub(crate) exit_on_crash: AtomicBool,
}

impl Inner {
    pub(crate) fn new(script: Script) -> Self {
        Inner {
            armed: Mutex::new(Arc::new(Armed::new(script))),
            names: Mutex::new(Names::default()),
            records: watch::channel(Vec::new()).0,
            runtime: Mutex::new(None),
            stopper: Mutex::new(None),
            exit_on_crash: AtomicBool::new(false),
        }
    }

    pub(crate) fn armed(&self) -> Arc<Armed> {
        Arc::clone(&lock(&self.armed))
    }

    /// Follows `script` from now on, with fresh counts.
    pub(crate) fn load(&self, script: Script) {
        *lock(&self.armed) = Arc::new(Armed::new(script));
    }

    pub(crate) fn set_runtime(&self, runtime: RuntimeClient) {
        *lock(&self.runtime) = Some(runtime);
    }

    pub(crate) fn set_stopper(&self, stopper: Stopper) {
        *lock(&self.stopper) = Some(stopper);
    }

    /// Remembers the containers of a Synchronize.
    pub(crate) fn synchronized(&self, containers: &[Container]) {
        lock(&self.names).synchronized(containers);
    }

    /// Records a call and returns its index.
    pub(crate) fn push(&self, record: Record) -> usize {
        let mut index = 0;
        self.records.send_modify(|records| {
            records.push(record);
            index = records.len() - 1;
        });
        index
    }

    fn update(&self, index: usize, change: impl FnOnce(&mut Record)) {
        self.records.send_modify(|records| {
            if let Some(record) = records.get_mut(index) {
                change(record);
            }
        });
    }

    fn answer(&self, index: usize, answer: Answer) {
        tracing::info!(?answer, "answering");
        self.update(index, |record| record.answer = answer);
    }

    /// Handles one call: records it, picks the step, waits its delay and
    /// does its action. Returns what to answer.
    pub(crate) async fn handle(
        self: &Arc<Self>,
        call: Call,
        pod: Option<&PodSandbox>,
        container: Option<&Container>,
    ) -> Result<Answered, HandlerError> {
        let span = tracing::info_span!(
            "fake_plugin",
            call = call.name(),
            pod = pod.map_or("", |p| p.id.as_str()),
            container = container.map_or("", |c| c.id.as_str()),
        );
        self.follow(call, pod, container).instrument(span).await
    }

    async fn follow(
        self: &Arc<Self>,
        call: Call,
        pod: Option<&PodSandbox>,
        container: Option<&Container>,
    ) -> Result<Answered, HandlerError> {
        if let Some(container) = container {
            lock(&self.names).container(container);
        }
        let picked = self.armed().pick(call, pod, container);
        let index = self.push(Record {
            call,
            pod: pod.map(Named::pod),
            container: container.map(Named::container),
            step: picked.as_ref().map(|(index, _)| *index),
            answer: Answer::Pending,
            later: None,
        });
        let Some((step_index, step)) = picked else {
            self.answer(index, Answer::Replied(Box::default()));
            return Ok(Answered::default());
        };
        tracing::debug!(step = step_index, delay = ?step.delay, "following a step");
        if !step.delay.is_zero() {
            tokio::time::sleep(step.delay).await;
        }
        match step.action {
            Action::Reply(reply) => match self.resolve(&reply.changes, pod) {
                Ok((update, evict)) => {
                    let answered = Answered {
                        adjust: reply.adjust,
                        update,
                        evict,
                    };
                    self.answer(index, Answer::Replied(Box::new(answered.clone())));
                    Ok(answered)
                }
                Err(error) => {
                    self.answer(index, Answer::Failed(error.to_string()));
                    Err(error.into())
                }
            },
            Action::Fail(message) => {
                self.answer(index, Answer::Failed(message.clone()));
                Err(message.into())
            }
            Action::Hang => {
                self.answer(index, Answer::Hung);
                std::future::pending().await
            }
            Action::Close => self.close(index, Answer::Closed).await,
            Action::Crash(code) => {
                if self.exit_on_crash.load(Ordering::Relaxed) {
                    tracing::warn!(code, "crashing as the script says");
                    std::process::exit(code);
                }
                self.close(index, Answer::Crashed(code)).await
            }
            Action::UpdateLater { after, changes } => {
                self.update(index, |record| {
                    record.answer = Answer::Replied(Box::default());
                    record.later = Some(Delivery::Waiting);
                });
                let inner = Arc::clone(self);
                let pod = pod.cloned();
                let span = tracing::Span::current();
                tokio::spawn(
                    async move {
                        tokio::time::sleep(after).await;
                        let delivery = inner.deliver(&changes, pod.as_ref()).await;
                        tracing::info!(?delivery, "unsolicited UpdateContainers");
                        inner.update(index, |record| record.later = Some(delivery));
                    }
                    .instrument(span),
                );
                Ok(Answered::default())
            }
        }
    }

    /// Closes the connection through the stub's stopper, and never
    /// answers; fails if there is no stopper.
    async fn close(&self, index: usize, answer: Answer) -> Result<Answered, HandlerError> {
        let stopper = lock(&self.stopper).clone();
        let Some(stopper) = stopper else {
            let message = "the script closes the connection, but the fake plugin cannot: attach \
                           the stub's stopper with FakePlugin::attach";
            self.answer(index, Answer::Failed(message.into()));
            return Err(message.into());
        };
        self.answer(index, answer);
        stopper.stop();
        std::future::pending().await
    }

    /// Sends an unsolicited UpdateContainers.
    async fn deliver(&self, changes: &Changes, pod: Option<&PodSandbox>) -> Delivery {
        let (update, evict) = match self.resolve(changes, pod) {
            Ok(resolved) => resolved,
            Err(error) => return Delivery::Failed(error.to_string()),
        };
        let runtime = lock(&self.runtime).clone();
        let Some(runtime) = runtime else {
            return Delivery::Failed("the plugin has not been configured".into());
        };
        match runtime
            .update_containers(update.clone(), evict.clone())
            .await
        {
            Ok(failed) => Delivery::Sent {
                update,
                evict,
                failed,
            },
            Err(error) => Delivery::Failed(error.to_string()),
        }
    }

    /// The updates and evictions with every named container's id filled
    /// in.
    fn resolve(
        &self,
        changes: &Changes,
        pod: Option<&PodSandbox>,
    ) -> Result<(Vec<ContainerUpdate>, Vec<ContainerEviction>), UnknownContainer> {
        let names = lock(&self.names);
        let resolve = |container: &Option<String>, id: &mut String| {
            if let Some(name) = container {
                *id = names.resolve(name, pod)?;
            }
            Ok(())
        };
        let update = changes
            .update
            .iter()
            .map(|Targeted { container, message }| {
                let mut update = message.clone();
                resolve(container, &mut update.container_id).map(|()| update)
            })
            .collect::<Result<_, _>>()?;
        let evict = changes
            .evict
            .iter()
            .map(|Targeted { container, message }| {
                let mut eviction = message.clone();
                resolve(container, &mut eviction.container_id).map(|()| eviction)
            })
            .collect::<Result<_, _>>()?;
        Ok((update, evict))
    }
}
