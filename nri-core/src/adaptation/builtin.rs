//! Builtin plugins: plugins that run inside the runtime process, served
//! over the in-process transport with the same handler model as every
//! other plugin (Configure, Synchronize, events).

use std::sync::Arc;

use nri_proto::api::{ConfigureResponse, Empty, ValidateContainerAdjustmentResponse};
use nri_proto::event::{Event, EventMask};
use nri_proto::identity::{IdentityError, PluginId};

use crate::default_validator::{self, DefaultValidatorConfig};
use crate::transport::{CallError, PluginHandler, PluginRequest, PluginResponse};

/// A plugin compiled into the runtime.
#[derive(Clone)]
pub struct Builtin {
    pub(crate) id: PluginId,
    pub(crate) config: String,
    pub(crate) handler: Arc<dyn PluginHandler>,
}

impl Builtin {
    /// A builtin plugin with this index and name, handled by `handler`.
    pub fn new(
        index: &str,
        name: &str,
        handler: Arc<dyn PluginHandler>,
    ) -> Result<Self, IdentityError> {
        Ok(Builtin {
            id: PluginId::new(index, name)?,
            config: String::new(),
            handler,
        })
    }

    /// Sets the configuration passed to the plugin in Configure.
    pub fn with_config(mut self, config: impl Into<String>) -> Self {
        self.config = config.into();
        self
    }

    /// The plugin's identity.
    pub fn id(&self) -> &PluginId {
        &self.id
    }
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builtin")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The builtin default validator (`00-default-validator`).
pub(crate) fn default_validator(
    config: Arc<DefaultValidatorConfig>,
) -> Result<Builtin, IdentityError> {
    Builtin::new(
        default_validator::INDEX,
        default_validator::NAME,
        Arc::new(DefaultValidator { config }),
    )
}

struct DefaultValidator {
    config: Arc<DefaultValidatorConfig>,
}

#[async_trait::async_trait]
impl PluginHandler for DefaultValidator {
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        match request {
            PluginRequest::Configure(_) => {
                Ok(PluginResponse::Configure(Box::new(ConfigureResponse {
                    events: EventMask::of([Event::ValidateContainerAdjustment]).bits(),
                })))
            }
            PluginRequest::Synchronize(_) => Ok(PluginResponse::Synchronize(Box::default())),
            PluginRequest::Shutdown(_) => Ok(PluginResponse::Shutdown(Box::new(Empty {}))),
            PluginRequest::ValidateContainerAdjustment(request) => {
                let verdict = match default_validator::validate(&request, &self.config) {
                    Ok(()) => ValidateContainerAdjustmentResponse::default(),
                    Err(rejection) => ValidateContainerAdjustmentResponse {
                        reject: true,
                        reason: rejection.to_string(),
                    },
                };
                Ok(PluginResponse::ValidateContainerAdjustment(Box::new(
                    verdict,
                )))
            }
            other => Err(CallError::Unimplemented {
                method: other.method().name().to_string(),
            }),
        }
    }
}
