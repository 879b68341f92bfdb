//! The answer to every path that is not one of our `RuntimeService`'s:
//! the request body echoed unchanged, as a successful gRPC response.

use http::header::{CONTENT_TYPE, HeaderValue};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;

use super::{FakeCriRuntime, RawCall};

/// Reads the whole request, records it as a [`RawCall`] and answers `200`,
/// `content-type: application/grpc`, the body as received and the trailer
/// `grpc-status: 0`. A body that cannot be read (the client reset the
/// stream) is answered `INTERNAL` and not recorded.
pub(crate) async fn echo(
    runtime: FakeCriRuntime,
    request: http::Request<Incoming>,
) -> http::Response<tonic::body::Body> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return tonic::Status::internal(format!("reading the request body: {error}"))
                .into_http();
        }
    };
    runtime.modify(|world| {
        world.raw_calls.push(RawCall {
            path: parts.uri.path().to_string(),
            headers: parts.headers,
            body: body.clone(),
        });
    });
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let body = Full::new(body).with_trailers(async move { Some(Ok(trailers)) });
    let mut response = http::Response::new(tonic::body::Body::new(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    response
}
