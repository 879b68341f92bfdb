//! The `#[plugin]` attribute, re-exported by `nri-core` as
//! `nri_core::plugin`.
//!
//! Put on an `impl nri_core::stub::Plugin for T` block, it reads which
//! event handlers the block defines and adds the methods that tell the stub
//! so (and whether it defines `synchronize`) (and `#[nri_core::async_trait]`, which every async trait of nri-core
//! takes, so that the handlers are written as plain `async fn`s), which makes the plugin's event subscription follow from its code:
//! the author never writes a mask. Handler names are the event names in
//! snake case (`create_container`, `validate_container_adjustment`, …);
//! `configure`, `synchronize` and `shutdown` are not events. Any other
//! method name is refused, which catches a misspelled handler at compile
//! time instead of a plugin that silently never sees its event.

use proc_macro::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{ImplItem, ItemImpl, parse_macro_input};

/// The event handlers: method name and `Event` variant.
const EVENT_HANDLERS: &[(&str, &str)] = &[
    ("run_pod_sandbox", "RunPodSandbox"),
    ("update_pod_sandbox", "UpdatePodSandbox"),
    ("post_update_pod_sandbox", "PostUpdatePodSandbox"),
    ("stop_pod_sandbox", "StopPodSandbox"),
    ("remove_pod_sandbox", "RemovePodSandbox"),
    ("create_container", "CreateContainer"),
    ("post_create_container", "PostCreateContainer"),
    ("start_container", "StartContainer"),
    ("post_start_container", "PostStartContainer"),
    ("update_container", "UpdateContainer"),
    ("post_update_container", "PostUpdateContainer"),
    ("stop_container", "StopContainer"),
    ("remove_container", "RemoveContainer"),
    (
        "validate_container_adjustment",
        "ValidateContainerAdjustment",
    ),
];

/// The other methods a plugin may define.
const OTHER_METHODS: &[&str] = &["configure", "synchronize", "shutdown"];

/// The methods the attribute writes.
const GENERATED: &[&str] = &["handled_events", "defines_synchronize"];

/// Derives the event subscription of an `impl Plugin for T` block from the
/// handlers it defines. See the crate documentation.
#[proc_macro_attribute]
pub fn plugin(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        let attr = proc_macro2::TokenStream::from(attr);
        return syn::Error::new(attr.span(), "#[plugin] takes no arguments")
            .to_compile_error()
            .into();
    }
    let mut block = parse_macro_input!(item as ItemImpl);
    let mut events = Vec::new();
    let mut synchronizes = false;
    let mut errors: Option<syn::Error> = None;
    for item in &block.items {
        let ImplItem::Fn(method) = item else {
            continue;
        };
        let name = method.sig.ident.to_string();
        synchronizes |= name == "synchronize";
        if let Some((_, event)) = EVENT_HANDLERS.iter().find(|(handler, _)| *handler == name) {
            events.push(syn::Ident::new(event, method.sig.ident.span()));
        } else if !OTHER_METHODS.contains(&name.as_str()) {
            let message = if GENERATED.contains(&name.as_str()) {
                format!("`{name}` is written by #[plugin]; remove it")
            } else {
                format!(
                    "`{name}` is not an NRI plugin handler; the handlers are {}, {}",
                    OTHER_METHODS.join(", "),
                    EVENT_HANDLERS
                        .iter()
                        .map(|(handler, _)| *handler)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let error = syn::Error::new(method.sig.ident.span(), message);
            match &mut errors {
                Some(errors) => errors.combine(error),
                None => errors = Some(error),
            }
        }
    }
    if let Some(errors) = errors {
        return errors.to_compile_error().into();
    }
    let handled: ImplItem = syn::parse_quote! {
        fn handled_events(&self) -> ::nri_core::proto::event::EventMask {
            ::nri_core::proto::event::EventMask::of([
                #(::nri_core::proto::event::Event::#events),*
            ])
        }
    };
    let defines_synchronize: ImplItem = syn::parse_quote! {
        fn defines_synchronize(&self) -> bool {
            #synchronizes
        }
    };
    block.items.push(handled);
    block.items.push(defines_synchronize);
    // The Plugin trait is an `#[async_trait]` trait, like every async
    // trait of nri-core: the attribute writes that too, unless the block
    // already has it.
    let has_async_trait = block.attrs.iter().any(|attr| {
        attr.path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "async_trait")
    });
    if !has_async_trait {
        block
            .attrs
            .push(syn::parse_quote!(#[::nri_core::async_trait]));
    }
    quote!(#block).into()
}
