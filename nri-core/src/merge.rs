//! Placeholder until the merge module lands (signatures only).
#![allow(missing_docs, dead_code)]
use nri_proto::api::*;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    #[error("plugins {claimer:?} and {owner:?} both tried to set {field}")]
    Conflict {
        field: String,
        key: Option<String>,
        container: String,
        claimer: String,
        owner: String,
    },
    #[error("plugin {plugin:?} asked update of {container:?} during creation")]
    UpdateDuringCreation { plugin: String, container: String },
}
#[derive(Debug, Default)]
pub struct Owners;
impl Owners {
    pub fn to_proto(&self) -> OwningPlugins {
        OwningPlugins::default()
    }
}
pub struct CreateMerge {
    req: CreateContainerRequest,
    resp: CreateContainerResponse,
    owners: Owners,
}
impl CreateMerge {
    pub fn new(request: CreateContainerRequest) -> Self {
        Self {
            req: request,
            resp: Default::default(),
            owners: Owners,
        }
    }
    pub fn request(&self) -> &CreateContainerRequest {
        &self.req
    }
    pub fn apply(
        &mut self,
        _plugin: &str,
        reply: CreateContainerResponse,
    ) -> Result<(), MergeError> {
        self.resp.update.extend(reply.update);
        self.resp.evict.extend(reply.evict);
        if reply.adjust.is_some() {
            self.resp.adjust = reply.adjust;
        }
        Ok(())
    }
    pub fn owners(&self) -> &Owners {
        &self.owners
    }
    pub fn adjustment(&self) -> Option<&ContainerAdjustment> {
        self.resp.adjust.as_ref()
    }
    pub fn updates(&self) -> &[ContainerUpdate] {
        &self.resp.update
    }
    pub fn finish(self) -> CreateContainerResponse {
        self.resp
    }
}
pub struct UpdateMerge {
    req: UpdateContainerRequest,
    resp: UpdateContainerResponse,
}
impl UpdateMerge {
    pub fn new(request: UpdateContainerRequest) -> Self {
        Self {
            req: request,
            resp: Default::default(),
        }
    }
    pub fn request(&self) -> &UpdateContainerRequest {
        &self.req
    }
    pub fn apply(
        &mut self,
        _plugin: &str,
        reply: UpdateContainerResponse,
    ) -> Result<(), MergeError> {
        self.resp.update.extend(reply.update);
        self.resp.evict.extend(reply.evict);
        Ok(())
    }
    pub fn finish(self) -> UpdateContainerResponse {
        self.resp
    }
}
pub struct StopMerge {
    req: StopContainerRequest,
    resp: StopContainerResponse,
}
impl StopMerge {
    pub fn new(request: StopContainerRequest) -> Self {
        Self {
            req: request,
            resp: Default::default(),
        }
    }
    pub fn request(&self) -> &StopContainerRequest {
        &self.req
    }
    pub fn apply(&mut self, _plugin: &str, reply: StopContainerResponse) -> Result<(), MergeError> {
        self.resp.update.extend(reply.update);
        Ok(())
    }
    pub fn finish(self) -> StopContainerResponse {
        self.resp
    }
}
