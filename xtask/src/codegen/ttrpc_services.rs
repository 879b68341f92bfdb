//! Our prost-build service generator for async ttrpc 0.10.
//!
//! ttrpc's own prost support is tied to prost 0.13 and needs `protoc`, so we
//! generate the bindings ourselves on top of ttrpc's public building blocks
//! (`MethodHandler`, `Service`, `Client::request` and the `Codec` trait).
//! Per service `Foo` it emits a module `foo_ttrpc` with:
//!
//! - trait `Foo`: one async method per RPC; the default answers
//!   `UNIMPLEMENTED` with the text `method <Name>`, exactly as a Go ttrpc
//!   server does (NRI's StateChange fallback keys on that code);
//! - `create_foo(Arc<dyn Foo>)`: the service table for `ttrpc::r#async::Server`;
//! - `FooClient`: one async method per RPC over a `ttrpc::r#async::Client`;
//!
//! and, once per message type used by any RPC, an implementation of
//! `ttrpc::proto::Codec` through nri-proto's `ttrpc_codec!` macro.
//!
//! Only unary RPCs are supported: NRI has no streaming RPC.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use prost_build::{Comments, Method, Service, ServiceGenerator};

/// The generator. It remembers which message types already have a codec.
#[derive(Default)]
pub struct TtrpcServices {
    codec_types: BTreeSet<String>,
}

impl ServiceGenerator for TtrpcServices {
    fn generate(&mut self, service: Service, buf: &mut String) {
        // Writing into a String cannot fail.
        let _ = self.write_service(&service, buf);
    }

    fn finalize(&mut self, buf: &mut String) {
        if self.codec_types.is_empty() {
            return;
        }
        buf.push_str("crate::ttrpc_codec!(");
        for ty in std::mem::take(&mut self.codec_types) {
            let _ = write!(buf, "{ty},");
        }
        buf.push_str(");\n");
    }
}

/// `FooBar` to `foo_bar`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i != 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Doc comment lines for a schema comment, or `fallback` when there is none.
fn docs(comments: &Comments, fallback: &str) -> String {
    let lines: Vec<&str> = comments.leading.iter().map(|l| l.trim()).collect();
    let mut out = String::new();
    if lines.iter().all(|l| l.is_empty()) {
        let _ = writeln!(out, "#[doc = {fallback:?}]");
    } else {
        for line in lines {
            let _ = writeln!(out, "#[doc = {:?}]", format!(" {line}"));
        }
    }
    out
}

impl TtrpcServices {
    fn write_service(&mut self, service: &Service, buf: &mut String) -> std::fmt::Result {
        let full_name = if service.package.is_empty() {
            service.proto_name.clone()
        } else {
            format!("{}.{}", service.package, service.proto_name)
        };
        let name = &service.name;
        let snake = snake_case(name);
        let unary: Vec<&Method> = service
            .methods
            .iter()
            .filter(|m| !m.client_streaming && !m.server_streaming)
            .collect();

        writeln!(buf, "/// ttrpc bindings of the `{full_name}` service.")?;
        writeln!(buf, "pub mod {snake}_ttrpc {{")?;
        writeln!(buf, "use ::std::sync::Arc;")?;
        writeln!(buf, "use ::std::collections::HashMap;")?;
        writeln!(
            buf,
            "use ::ttrpc::r#async::{{MethodHandler, TtrpcContext}};"
        )?;
        writeln!(buf, "/// Fully qualified name of the service on the wire.")?;
        writeln!(buf, "pub const SERVICE_NAME: &str = {full_name:?};")?;

        // Server trait.
        buf.push_str(&docs(
            &service.comments,
            &format!(" Server side of `{full_name}`."),
        ));
        writeln!(
            buf,
            "///\n/// Methods left out answer `UNIMPLEMENTED`, as a Go ttrpc server does."
        )?;
        writeln!(buf, "#[::async_trait::async_trait]")?;
        writeln!(buf, "pub trait {name}: Send + Sync {{")?;
        for m in &unary {
            buf.push_str(&docs(&m.comments, &format!(" `{}`.", m.proto_name)));
            writeln!(
                buf,
                "async fn {f}(&self, _ctx: &TtrpcContext, _req: super::{i}) -> ::ttrpc::Result<super::{o}> {{ \
                 Err(::ttrpc::Error::RpcStatus(::ttrpc::get_status(::ttrpc::Code::UNIMPLEMENTED, \"method {p}\"))) }}",
                f = m.name,
                i = m.input_type,
                o = m.output_type,
                p = m.proto_name,
            )?;
        }
        writeln!(buf, "}}")?;

        // One handler per method.
        for m in &unary {
            let handler = format!("{}Handler", m.proto_name);
            writeln!(buf, "struct {handler} {{ service: Arc<dyn {name}> }}")?;
            writeln!(buf, "#[::async_trait::async_trait]")?;
            writeln!(buf, "impl MethodHandler for {handler} {{")?;
            writeln!(
                buf,
                "async fn handler(&self, ctx: TtrpcContext, req: ::ttrpc::Request) -> ::ttrpc::Result<::ttrpc::Response> {{ \
                 ::ttrpc::async_request_handler!(self, ctx, req, super::{i}, {f}); }}",
                i = m.input_type,
                f = m.name,
            )?;
            writeln!(buf, "}}")?;
        }

        // Service table.
        writeln!(
            buf,
            "/// The service table of `{full_name}` for `ttrpc::r#async::Server::register_service`."
        )?;
        writeln!(
            buf,
            "pub fn create_{snake}(service: Arc<dyn {name}>) -> HashMap<String, ::ttrpc::r#async::Service> {{"
        )?;
        writeln!(
            buf,
            "let mut methods: HashMap<String, Box<dyn MethodHandler + Send + Sync>> = HashMap::new();"
        )?;
        for m in &unary {
            writeln!(
                buf,
                "methods.insert({p:?}.to_string(), Box::new({p}Handler {{ service: Arc::clone(&service) }}));",
                p = m.proto_name,
            )?;
        }
        writeln!(buf, "let mut services = HashMap::new();")?;
        writeln!(
            buf,
            "services.insert(SERVICE_NAME.to_string(), ::ttrpc::r#async::Service {{ methods, streams: HashMap::new() }});"
        )?;
        writeln!(buf, "services\n}}")?;

        // Client.
        writeln!(buf, "/// Client of `{full_name}`.")?;
        writeln!(buf, "#[derive(Clone)]")?;
        writeln!(
            buf,
            "pub struct {name}Client {{ client: ::ttrpc::r#async::Client }}"
        )?;
        writeln!(buf, "impl {name}Client {{")?;
        writeln!(buf, "/// Wraps a connected ttrpc client.")?;
        writeln!(
            buf,
            "pub fn new(client: ::ttrpc::r#async::Client) -> Self {{ Self {{ client }} }}"
        )?;
        for m in &unary {
            buf.push_str(&docs(&m.comments, &format!(" `{}`.", m.proto_name)));
            writeln!(
                buf,
                "pub async fn {f}(&self, ctx: ::ttrpc::context::Context, req: &super::{i}) -> ::ttrpc::Result<super::{o}> {{ \
                 let mut cres = <super::{o} as ::std::default::Default>::default(); \
                 ::ttrpc::async_client_request!(self, ctx, req, SERVICE_NAME, {p:?}, cres); }}",
                f = m.name,
                i = m.input_type,
                o = m.output_type,
                p = m.proto_name,
            )?;
        }
        writeln!(buf, "}}")?;
        writeln!(buf, "}}")?;

        for m in &unary {
            self.codec_types.insert(m.input_type.clone());
            self.codec_types.insert(m.output_type.clone());
        }
        Ok(())
    }
}
