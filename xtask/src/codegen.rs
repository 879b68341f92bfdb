//! `cargo xtask codegen`: `.proto` schemas to checked-in Rust.
//!
//! The schemas are parsed by `protox` (pure Rust, so no `protoc` is needed),
//! messages come from `prost-build`, gRPC services from `tonic-prost-build`
//! and ttrpc services from our own generator ([`ttrpc_services`]). All three
//! share one set of prost message types. Each part lands in its own file in
//! the schema's crate (`proto/src/generated/` for NRI, `nri-cri/src/generated/`
//! for CRI) so that `nri-proto` can gate the RPC stacks behind cargo features.
//! Output is formatted with `prettyplease`, so it does not depend on the local
//! `rustfmt`.

mod decoders;
mod ttrpc_services;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result, bail};
use prost_build::{Module, Service, ServiceGenerator};

use crate::workspace;

/// One schema and the files generated from it.
struct Schema {
    /// Directory of the schema, relative to the workspace root.
    dir: &'static str,
    /// File name in `dir`.
    file: &'static str,
    /// Protobuf package declared by the file.
    package: &'static str,
    /// Where its generated code goes, relative to the workspace root.
    out: &'static str,
    /// Stem of the generated file names.
    stem: &'static str,
    /// Whether ttrpc bindings are generated too (gRPC ones always are).
    ttrpc: bool,
    /// Whether single-pass decoders ([`decoders`]) are generated too.
    decoders: bool,
    /// The codec the generated gRPC services use, if not tonic-prost's.
    grpc_codec: Option<&'static str>,
}

/// Every schema code is generated from.
const SCHEMAS: &[Schema] = &[
    Schema {
        dir: "proto/schema",
        file: "nri.proto",
        package: "nri.pkg.api.v1alpha1",
        out: "proto/src/generated",
        stem: "nri_api",
        ttrpc: true,
        decoders: true,
        // prost encodes, the single-pass decoders decode.
        grpc_codec: Some("crate::grpc_codec::NriCodec"),
    },
    Schema {
        dir: "nri-cri/schema",
        file: "cri.proto",
        package: "runtime.v1",
        out: "nri-cri/src/generated",
        stem: "cri_runtime_v1",
        ttrpc: false,
        decoders: false,
        grpc_codec: None,
    },
];

/// Runs the task: write the generated files, or with `check` compare them.
pub fn run(check: bool) -> Result<ExitCode> {
    let root = workspace::root();
    let mut stale_total = Vec::new();
    let mut count = 0;
    for schema in SCHEMAS {
        let wanted = generate_schema(&root, schema)
            .with_context(|| format!("generating code for {}/{}", schema.dir, schema.file))?;
        count += wanted.len();
        let dir = root.join(schema.out);
        if check {
            stale_total.extend(
                stale_files(&dir, &wanted)?
                    .into_iter()
                    .map(|file| format!("{}/{file}", schema.out)),
            );
            continue;
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for name in orphans(&dir, &wanted)? {
            fs::remove_file(dir.join(&name)).with_context(|| format!("removing {name}"))?;
            println!("codegen: removed {}/{name}", schema.out);
        }
        for (name, text) in &wanted {
            let path = dir.join(name);
            if !is_current(&path, text) {
                fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
                println!("codegen: wrote {}/{name}", schema.out);
            }
        }
    }
    if !check {
        return Ok(ExitCode::SUCCESS);
    }
    if stale_total.is_empty() {
        println!("codegen: {count} generated files are up to date");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("codegen: generated code is stale; run `cargo xtask codegen`:");
    for file in stale_total {
        eprintln!("  {file}");
    }
    Ok(ExitCode::FAILURE)
}

/// Whether the file at `path` holds exactly `text`.
fn is_current(path: &Path, text: &str) -> bool {
    fs::read_to_string(path).ok().as_deref() == Some(text)
}

/// Files whose checked-in text differs from what would be generated, plus
/// generated-looking files nothing generates any more.
fn stale_files(dir: &Path, wanted: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let mut stale: Vec<String> = wanted
        .iter()
        .filter(|(name, text)| !is_current(&dir.join(name), text))
        .map(|(name, _)| name.clone())
        .collect();
    stale.extend(orphans(dir, wanted)?);
    Ok(stale)
}

/// `.rs` files in the generated directory that no schema produces.
fn orphans(dir: &Path, wanted: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") && !wanted.contains_key(&name) {
            found.push(name);
        }
    }
    found.sort();
    Ok(found)
}

/// Service code collected during generation, per RPC stack.
#[derive(Default)]
struct ServiceCode {
    grpc: String,
    ttrpc: String,
}

/// Feeds every service to the tonic and the ttrpc generator, keeping their
/// output apart from the message code.
struct SplitServices {
    grpc: Box<dyn ServiceGenerator>,
    ttrpc: ttrpc_services::TtrpcServices,
    code: Arc<Mutex<ServiceCode>>,
}

impl ServiceGenerator for SplitServices {
    fn generate(&mut self, service: Service, _messages: &mut String) {
        let mut code = self.code.lock().unwrap_or_else(PoisonError::into_inner);
        self.grpc.generate(service.clone(), &mut code.grpc);
        self.ttrpc.generate(service, &mut code.ttrpc);
    }

    fn finalize(&mut self, _messages: &mut String) {
        let mut code = self.code.lock().unwrap_or_else(PoisonError::into_inner);
        self.grpc.finalize(&mut code.grpc);
        self.ttrpc.finalize(&mut code.ttrpc);
    }

    fn finalize_package(&mut self, package: &str, _messages: &mut String) {
        let mut code = self.code.lock().unwrap_or_else(PoisonError::into_inner);
        self.grpc.finalize_package(package, &mut code.grpc);
        self.ttrpc.finalize_package(package, &mut code.ttrpc);
    }
}

/// Generates the files of one schema, keyed by file name.
fn generate_schema(root: &Path, schema: &Schema) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let schema_dir: PathBuf = root.join(schema.dir);
    let descriptors =
        protox::compile([schema.file], [&schema_dir]).map_err(|err| anyhow::anyhow!("{err:?}"))?;
    out.insert(
        format!("{}_descriptor.rs", schema.stem),
        render_descriptor(schema, &descriptors)?,
    );

    let code = Arc::new(Mutex::new(ServiceCode::default()));
    let mut grpc = tonic_prost_build::configure()
        .build_transport(false)
        .generate_default_stubs(true);
    if let Some(codec) = schema.grpc_codec {
        grpc = grpc.codec_path(codec);
    }
    let services = SplitServices {
        grpc: grpc.service_generator(),
        ttrpc: ttrpc_services::TtrpcServices::default(),
        code: Arc::clone(&code),
    };

    let mut config = prost_build::Config::new();
    // Maps encode in key order, so our output is deterministic.
    config.btree_map(["."]);
    // `prost::Name` on every message: its full protobuf name, which finds
    // it in the descriptor set (e.g. for JSON).
    config.enable_type_names();
    config.service_generator(Box::new(services));

    let requests = descriptors
        .file
        .into_iter()
        .filter(|file| file.package() == schema.package)
        .map(|file| (Module::from_protobuf_package_name(file.package()), file))
        .collect::<Vec<_>>();
    if requests.is_empty() {
        bail!("no file declares package {}", schema.package);
    }
    let mut modules = config.generate(requests)?;
    let module = Module::from_protobuf_package_name(schema.package);
    let messages = modules
        .remove(&module)
        .with_context(|| format!("prost-build produced nothing for {}", schema.package))?;
    let code = std::mem::take(&mut *code.lock().unwrap_or_else(PoisonError::into_inner));

    let decoders = if schema.decoders {
        Some(decoders::generate(&messages)?)
    } else {
        None
    };
    let mut parts = vec![
        ("", "messages", messages),
        ("_grpc", "tonic gRPC services", code.grpc),
    ];
    if schema.ttrpc {
        parts.push(("_ttrpc", "ttrpc services", code.ttrpc));
    }
    if let Some(code) = decoders {
        parts.push(("_decode", "single-pass decoders", code));
    }
    for (suffix, what, text) in parts {
        let name = format!("{}{suffix}.rs", schema.stem);
        out.insert(name, render(schema, what, &text)?);
    }
    Ok(out)
}

/// The schema's descriptor set (without source locations, so comment
/// edits do not change it) as a byte-string constant.
fn render_descriptor(
    schema: &Schema,
    descriptors: &prost_types::FileDescriptorSet,
) -> Result<String> {
    use prost::Message as _;
    use std::fmt::Write as _;
    let mut set = descriptors.clone();
    for file in &mut set.file {
        file.source_code_info = None;
    }
    let bytes = set.encode_to_vec();
    let mut literal = String::with_capacity(bytes.len() * 4);
    for (i, byte) in bytes.iter().enumerate() {
        if i % 32 == 0 {
            literal.push_str("\\\n");
        }
        write!(literal, "\\x{byte:02x}").context("formatting the descriptor set")?;
    }
    Ok(format!(
        "// @generated by `cargo xtask codegen` from {}/{}: the encoded \
         `FileDescriptorSet` of package `{}` and its imports.\n// Do not edit by hand: change the schema and run `cargo xtask codegen`.\n\n\
         /// The encoded `google.protobuf.FileDescriptorSet` of the schema, without source\n\
         /// locations: what reflection (JSON, gRPC server reflection) needs.\n\
         pub const FILE_DESCRIPTOR_SET: &[u8] = b\"{literal}\";\n",
        schema.dir, schema.file, schema.package
    ))
}

/// Formats generated code and puts the do-not-edit header on it.
fn render(schema: &Schema, what: &str, code: &str) -> Result<String> {
    let file = syn::parse_file(code).context("generated code does not parse")?;
    let body = prettyplease::unparse(&file);
    Ok(format!(
        "// @generated by `cargo xtask codegen` from {}/{}: {what} of \
         package `{}`.\n// Do not edit by hand: change the schema and run `cargo xtask codegen`.\n\n{body}",
        schema.dir, schema.file, schema.package
    ))
}
