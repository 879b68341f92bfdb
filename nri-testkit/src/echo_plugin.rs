//! A minimal NRI plugin, written once and served over ttrpc and gRPC.
//!
//! It subscribes to container creation and stop, and on creation asks for an
//! environment variable `NRI_ECHO=<container name>` and an annotation
//! `echo.nri-rs.dev/pod=<pod name>`.

use nri_proto::api::{
    self, ConfigureRequest, ConfigureResponse, ContainerAdjustment, CreateContainerRequest,
    CreateContainerResponse, Empty, KeyValue, StopContainerRequest, StopContainerResponse,
    SynchronizeRequest, SynchronizeResponse,
};
use nri_proto::event::{Event, EventMask};

/// The environment variable the plugin sets.
pub const ENV_KEY: &str = "NRI_ECHO";

/// The annotation the plugin sets.
pub const ANNOTATION_KEY: &str = "echo.nri-rs.dev/pod";

/// The echo plugin.
#[derive(Debug, Clone, Default)]
pub struct EchoPlugin;

impl EchoPlugin {
    /// Subscribes to CreateContainer and StopContainer.
    pub fn configure(&self, _req: ConfigureRequest) -> ConfigureResponse {
        ConfigureResponse {
            events: EventMask::of([Event::CreateContainer, Event::StopContainer]).bits(),
        }
    }

    /// Accepts the existing state without updates.
    pub fn synchronize(&self, req: SynchronizeRequest) -> SynchronizeResponse {
        SynchronizeResponse {
            update: Vec::new(),
            more: req.more,
        }
    }

    /// Adjusts the new container.
    pub fn create_container(&self, req: CreateContainerRequest) -> CreateContainerResponse {
        let container = req.container.unwrap_or_default();
        let pod = req.pod.unwrap_or_default();
        let mut adjust = ContainerAdjustment::default();
        adjust.env.push(KeyValue {
            key: ENV_KEY.to_string(),
            value: container.name,
        });
        adjust
            .annotations
            .insert(ANNOTATION_KEY.to_string(), pod.name);
        CreateContainerResponse {
            adjust: Some(adjust),
            ..Default::default()
        }
    }

    /// Nothing to do when a container stops.
    pub fn stop_container(&self, _req: StopContainerRequest) -> StopContainerResponse {
        StopContainerResponse::default()
    }
}

#[async_trait::async_trait]
impl api::plugin_ttrpc::Plugin for EchoPlugin {
    async fn configure(
        &self,
        _ctx: &ttrpc::r#async::TtrpcContext,
        req: ConfigureRequest,
    ) -> ttrpc::Result<ConfigureResponse> {
        Ok(EchoPlugin::configure(self, req))
    }

    async fn synchronize(
        &self,
        _ctx: &ttrpc::r#async::TtrpcContext,
        req: SynchronizeRequest,
    ) -> ttrpc::Result<SynchronizeResponse> {
        Ok(EchoPlugin::synchronize(self, req))
    }

    async fn create_container(
        &self,
        _ctx: &ttrpc::r#async::TtrpcContext,
        req: CreateContainerRequest,
    ) -> ttrpc::Result<CreateContainerResponse> {
        Ok(EchoPlugin::create_container(self, req))
    }

    async fn stop_container(
        &self,
        _ctx: &ttrpc::r#async::TtrpcContext,
        req: StopContainerRequest,
    ) -> ttrpc::Result<StopContainerResponse> {
        Ok(EchoPlugin::stop_container(self, req))
    }

    async fn shutdown(
        &self,
        _ctx: &ttrpc::r#async::TtrpcContext,
        _req: Empty,
    ) -> ttrpc::Result<Empty> {
        Ok(Empty {})
    }
}

#[tonic::async_trait]
impl api::plugin_server::Plugin for EchoPlugin {
    async fn configure(
        &self,
        req: tonic::Request<ConfigureRequest>,
    ) -> Result<tonic::Response<ConfigureResponse>, tonic::Status> {
        Ok(tonic::Response::new(EchoPlugin::configure(
            self,
            req.into_inner(),
        )))
    }

    async fn synchronize(
        &self,
        req: tonic::Request<SynchronizeRequest>,
    ) -> Result<tonic::Response<SynchronizeResponse>, tonic::Status> {
        Ok(tonic::Response::new(EchoPlugin::synchronize(
            self,
            req.into_inner(),
        )))
    }

    async fn create_container(
        &self,
        req: tonic::Request<CreateContainerRequest>,
    ) -> Result<tonic::Response<CreateContainerResponse>, tonic::Status> {
        Ok(tonic::Response::new(EchoPlugin::create_container(
            self,
            req.into_inner(),
        )))
    }

    async fn stop_container(
        &self,
        req: tonic::Request<StopContainerRequest>,
    ) -> Result<tonic::Response<StopContainerResponse>, tonic::Status> {
        Ok(tonic::Response::new(EchoPlugin::stop_container(
            self,
            req.into_inner(),
        )))
    }

    async fn shutdown(
        &self,
        _req: tonic::Request<Empty>,
    ) -> Result<tonic::Response<Empty>, tonic::Status> {
        Ok(tonic::Response::new(Empty {}))
    }
}
