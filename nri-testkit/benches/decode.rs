//! Decoding the CreateContainer request a plugin receives, with prost and
//! with nri-proto's single-pass decoder (`cargo bench -p nri-testkit --bench
//! decode`). The request is the one `nri-harness bench` sends: a pod and a
//! container as the testkit's builders make them, about 3 KB on the wire.
//! `clone` builds the same values from memory: the cost of the allocations
//! alone, which no decoder into these types can go below.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use divan::Bencher;
use nri_core::proto::api::CreateContainerRequest;
use nri_testkit::builders::{ContainerBuilder, PodBuilder};
use prost::Message as _;

fn main() {
    divan::main();
}

fn request() -> CreateContainerRequest {
    let pod = PodBuilder::new("bench-0").namespace("bench").build();
    let container = ContainerBuilder::new(&pod, "app").build();
    CreateContainerRequest {
        pod: Some(pod),
        container: Some(container),
    }
}

#[divan::bench(sample_count = 500, sample_size = 20)]
fn prost_decode(bencher: Bencher) {
    let bytes = request().encode_to_vec();
    bencher.bench_local(|| CreateContainerRequest::decode(divan::black_box(&bytes[..])).unwrap());
}

#[divan::bench(sample_count = 500, sample_size = 20)]
fn single_pass_decode(bencher: Bencher) {
    let bytes = request().encode_to_vec();
    bencher.bench_local(|| {
        nri_core::proto::decode::decode::<CreateContainerRequest>(divan::black_box(&bytes[..]))
            .unwrap()
    });
}

#[divan::bench(sample_count = 500, sample_size = 20)]
fn clone(bencher: Bencher) {
    let request = request();
    bencher.bench_local(|| divan::black_box(&request).clone());
}
