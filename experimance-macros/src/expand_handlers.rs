//! `#[handlers]` on an impl block → `impl Handlers`: a dispatch `match` per socket, the
//! timers, the hooks, and compile-time checks against the service's `#[service]` spec.
//!
//! Input:
//! ```text
//! #[handlers]
//! impl Display {
//!     #[topic("era")]
//!     async fn on_era(&mut self, msg: EraChanged, ctx: &Context<Self>) -> Result<(), Error> { .. }
//! }
//! ```
//! Output:
//! ```text
//! impl Display { async fn on_era(..) { .. } }
//! impl Handlers for Display {
//!     const TOPICS: &[&str] = &["era"];
//!     fn dispatch_topic(..) -> impl Future<..> {
//!         async move { match topic { "era" => outcome(Self::on_era(self, decode(payload)?, ctx).await), _ => Ok(Handled::NoHandler) } }
//!     }
//! }
//! const _: () = /* `era` is subscribed, and `Display` has a `sub` socket */;
//! ```

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{Generics, ImplItem, ItemImpl, Type};

use crate::errors::Errors;
use crate::handler::{take_handler, Handler, Kind};

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.at(
            &args,
            "#[handlers] takes no arguments; addresses and topics go in #[service(...)]",
        );
    }
    let mut item: ItemImpl = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(e) => {
            let error = syn::Error::new(
                e.span(),
                "#[handlers] goes on the inherent impl block of a #[service] struct",
            )
            .to_compile_error();
            return quote!(#input #error);
        }
    };
    if let Some((_, path, _)) = &item.trait_ {
        errors.at(
            path,
            "#[handlers] goes on an inherent impl block, not a trait impl",
        );
    }
    let mut handlers = Vec::new();
    for impl_item in &mut item.items {
        if let ImplItem::Fn(method) = impl_item {
            handlers.extend(take_handler(method, &mut errors));
        }
    }
    check_duplicates(&handlers, &mut errors);
    let self_ty = &item.self_ty;
    let body = if errors.is_empty() {
        handlers_impl(self_ty, &item.generics, &handlers)
    } else {
        let (impl_generics, _, where_clause) = item.generics.split_for_impl();
        quote! {
            #[automatically_derived]
            impl #impl_generics ::experimance::__private::Handlers for #self_ty #where_clause {
                const __UNCHECKED: ::core::primitive::bool = true;
            }
        }
    };
    let errors = errors.into_compile_errors();
    quote! {
        #item
        #body
        #errors
    }
}

fn check_duplicates(handlers: &[Handler], errors: &mut Errors) {
    for (i, handler) in handlers.iter().enumerate() {
        let Some(first) = handlers[..i]
            .iter()
            .find(|h| same_slot(&h.kind, &handler.kind))
        else {
            continue;
        };
        let what = match &handler.kind {
            Kind::Topic(topic) => format!("topic `{}` already has a handler", topic.value()),
            Kind::CatchAll => "there is already a `#[catch_all]` handler".to_owned(),
            Kind::Task { .. } => "there is already a `#[task(catch_all)]` handler".to_owned(),
            Kind::OnStart => "there is already an `#[on_start]` hook".to_owned(),
            Kind::OnStop => "there is already an `#[on_stop]` hook".to_owned(),
            Kind::OnPeer => "there is already an `#[on_peer]` hook".to_owned(),
            Kind::Every(_) | Kind::TypedTopic => continue,
        };
        let span_source: TokenStream = match &handler.kind {
            Kind::Topic(topic) => quote!(#topic),
            _ => {
                let attr = &handler.attr;
                quote!(#attr)
            }
        };
        errors.at(span_source, format!("{what}: `{}`", first.method));
    }
}

fn same_slot(a: &Kind, b: &Kind) -> bool {
    match (a, b) {
        (Kind::Topic(a), Kind::Topic(b)) => a.value() == b.value(),
        (Kind::CatchAll, Kind::CatchAll)
        | (Kind::Task { catch_all: true }, Kind::Task { catch_all: true })
        | (Kind::OnStart, Kind::OnStart)
        | (Kind::OnStop, Kind::OnStop)
        | (Kind::OnPeer, Kind::OnPeer) => true,
        _ => false,
    }
}

fn handlers_impl(self_ty: &Type, generics: &Generics, handlers: &[Handler]) -> TokenStream {
    let p = quote!(::experimance::__private);
    let topics: Vec<_> = handlers
        .iter()
        .filter_map(|h| match &h.kind {
            Kind::Topic(topic) => Some(topic),
            _ => None,
        })
        .collect();
    let timers: Vec<_> = handlers
        .iter()
        .filter(|h| matches!(h.kind, Kind::Every(_)))
        .collect();

    let typed_topics: Vec<&Type> = handlers
        .iter()
        .filter(|h| matches!(h.kind, Kind::TypedTopic))
        .filter_map(|h| h.message.as_ref())
        .collect();
    let topic_arms = handlers.iter().filter_map(|h| match &h.kind {
        Kind::Topic(topic) => {
            let call = call(h, quote!(__exp_payload), None);
            Some(quote!(#topic => #call,))
        }
        _ => None,
    });
    // After the literal topics, so an exact topic wins (a clash is a compile error anyway).
    let typed_arms = handlers.iter().filter_map(|h| match (&h.kind, &h.message) {
        (Kind::TypedTopic, Some(ty)) => {
            let call = call(h, quote!(__exp_payload), None);
            let types = wire_types(ty);
            Some(quote!(__exp_t if #p::one_of(#types, __exp_t) => #call,))
        }
        _ => None,
    });
    let topics_const = if typed_topics.is_empty() {
        quote!(&[#(#topics),*])
    } else {
        let types = typed_topics.iter().map(|ty| wire_types(ty));
        let parts = quote!(&[&[#(#topics),*], #(#types),*]);
        quote!(&#p::concat::<{ #p::total(#parts) }>(#parts))
    };
    let fallback = match handlers.iter().find(|h| matches!(h.kind, Kind::CatchAll)) {
        Some(h) => call(h, quote!(__exp_payload), Some(quote!(__exp_topic))),
        None => quote!(::core::result::Result::Ok(#p::Handled::NoHandler)),
    };
    let dispatch_topic = (!topics.is_empty() || !typed_topics.is_empty() || fallback_exists(handlers)).then(|| {
        quote! {
            fn dispatch_topic<'__exp>(
                &'__exp mut self,
                __exp_topic: &'__exp ::core::primitive::str,
                __exp_payload: &'__exp ::core::primitive::str,
                __exp_ctx: &'__exp #p::Context<Self>,
            ) -> impl ::core::future::Future<Output = #p::DispatchResult> + ::core::marker::Send + '__exp {
                async move {
                    match __exp_topic {
                        #(#topic_arms)*
                        #(#typed_arms)*
                        _ => #fallback,
                    }
                }
            }
        }
    });
    let dispatch_task = task_dispatch(handlers).map(|body| {
        quote! {
            fn dispatch_task<'__exp>(
                &'__exp mut self,
                __exp_payload: &'__exp ::core::primitive::str,
                __exp_ctx: &'__exp #p::Context<Self>,
            ) -> impl ::core::future::Future<Output = #p::DispatchResult> + ::core::marker::Send + '__exp {
                async move { #body }
            }
        }
    });
    let on_timer = (!timers.is_empty()).then(|| {
        let arms = timers.iter().enumerate().map(|(i, h)| {
            let call = call(h, quote!(), None);
            quote!(#i => #call,)
        });
        quote! {
            fn on_timer<'__exp>(
                &'__exp mut self,
                __exp_index: ::core::primitive::usize,
                __exp_ctx: &'__exp #p::Context<Self>,
            ) -> impl ::core::future::Future<Output = #p::DispatchResult> + ::core::marker::Send + '__exp {
                async move {
                    match __exp_index {
                        #(#arms)*
                        _ => ::core::result::Result::Ok(#p::Handled::NoHandler),
                    }
                }
            }
        }
    });
    let hook = |kind: fn(&Kind) -> bool, name: TokenStream| {
        handlers.iter().find(|h| kind(&h.kind)).map(|h| {
            let call = call(h, quote!(), None);
            quote! {
                fn #name<'__exp>(
                    &'__exp mut self,
                    __exp_ctx: &'__exp #p::Context<Self>,
                ) -> impl ::core::future::Future<Output = #p::DispatchResult> + ::core::marker::Send + '__exp {
                    async move { #call }
                }
            }
        })
    };
    let on_start = hook(|k| matches!(k, Kind::OnStart), quote!(on_start));
    let on_stop = hook(|k| matches!(k, Kind::OnStop), quote!(on_stop));
    let on_peer = handlers.iter().find(|h| matches!(h.kind, Kind::OnPeer)).map(|h| {
        let call = call(h, quote!(), Some(quote!(__exp_peer, __exp_liveness)));
        quote! {
            fn on_peer<'__exp>(
                &'__exp mut self,
                __exp_peer: &'__exp ::core::primitive::str,
                __exp_liveness: #p::Liveness,
                __exp_ctx: &'__exp #p::Context<Self>,
            ) -> impl ::core::future::Future<Output = #p::DispatchResult> + ::core::marker::Send + '__exp {
                async move { #call }
            }
        }
    });
    let messages = handlers.iter().filter_map(|h| {
        let ty = h.message.as_ref()?;
        let (kind, topic) = match &h.kind {
            Kind::Topic(topic) => (quote!(Topic), topic.value()),
            Kind::TypedTopic => (quote!(Topic), String::new()),
            Kind::CatchAll => (quote!(CatchAll), String::new()),
            Kind::Task { catch_all: true } => (quote!(TaskCatchAll), String::new()),
            _ => (quote!(Task), String::new()),
        };
        let type_name = type_name(ty);
        let schema = quote! {
            || {
                #[allow(unused_imports)]
                use #p::{HasSchema as _, NoSchema as _};
                (&#p::SchemaProbe::<#ty>::new()).schema()
            }
        };
        let wire = quote! {
            || {
                #[allow(unused_imports)]
                use #p::{Typed as _, Untyped as _};
                (&#p::TypeProbe::<#ty>::new()).wire().map(|(types, _)| types)
            }
        };
        Some(quote!(#p::MessageInfo { kind: #p::HandlerKind::#kind, topic: #topic, message_type: #type_name, schema: #schema, wire_types: #wire }))
    });
    let timer_list = timers.iter().map(|h| {
        let name = h.method.to_string();
        let Kind::Every(ms) = h.kind else {
            unreachable!()
        };
        quote!((#name, #p::Duration::from_millis(#ms)))
    });
    // A generic impl can only belong to a generic struct, which #[service] already rejects;
    // the checks could not name its parameters.
    let checks = handlers
        .iter()
        .filter(|_| generics.params.is_empty())
        .filter_map(|h| socket_check(self_ty, h));
    let type_checks = if generics.params.is_empty() {
        wire_type_checks(handlers)
    } else {
        TokenStream::new()
    };
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #p::Handlers for #self_ty #where_clause {
            const TOPICS: &'static [&'static ::core::primitive::str] = #topics_const;
            const TIMERS: &'static [(&'static ::core::primitive::str, #p::Duration)] = &[#(#timer_list),*];
            const MESSAGES: &'static [#p::MessageInfo] = &[#(#messages),*];
            #dispatch_topic
            #dispatch_task
            #on_timer
            #on_start
            #on_stop
            #on_peer
        }
        #(#checks)*
        #type_checks
    }
}

/// `<T as Message>::TYPES`, spanned at `T`: a type without a wire type is reported there.
fn wire_types(ty: &Type) -> TokenStream {
    let p = quote!(::experimance::__private);
    quote_spanned!(syn::spanned::Spanned::span(ty)=> <#ty as #p::Message>::TYPES)
}

/// The body of `dispatch_task`. One `#[task]` takes every task (checking the wire type of a
/// `#[message]` type); several, or one with a `#[task(catch_all)]`, are chosen by the task's
/// `"type"`, with the catch-all (or a counted error) for the rest.
fn task_dispatch(handlers: &[Handler]) -> Option<TokenStream> {
    let p = quote!(::experimance::__private);
    let typed: Vec<&Handler> = handlers
        .iter()
        .filter(|h| matches!(h.kind, Kind::Task { catch_all: false }))
        .collect();
    let catch_all = handlers
        .iter()
        .find(|h| matches!(h.kind, Kind::Task { catch_all: true }));
    match (typed.as_slice(), catch_all) {
        ([], None) => return None,
        ([only], None) => return Some(call(only, quote!(__exp_payload), None)),
        ([], Some(h)) => return Some(call(h, quote!(__exp_payload), None)),
        _ => {}
    }
    let arms = typed.iter().filter_map(|h| {
        let types = wire_types(h.message.as_ref()?);
        let call = call(h, quote!(__exp_payload), None);
        Some(quote!(::core::option::Option::Some(__exp_t) if #p::one_of(#types, __exp_t) => #call,))
    });
    let rest = match catch_all {
        Some(h) => call(h, quote!(__exp_payload), None),
        None => quote! {
            ::core::result::Result::Err(#p::HandlerError::NoTaskHandler {
                got: __exp_type.as_deref().map(::std::borrow::ToOwned::to_owned),
            })
        },
    };
    Some(quote! {
        let __exp_type = #p::wire_type_of(__exp_payload);
        match __exp_type.as_deref() {
            #(#arms)*
            _ => #rest,
        }
    })
}

/// Compile-time checks of the handlers that dispatch by wire type: no wire type taken by two
/// handlers (nor by a literal topic), each spanned at the later handler's message type.
fn wire_type_checks(handlers: &[Handler]) -> TokenStream {
    let p = quote!(::experimance::__private);
    let literal: Vec<&syn::LitStr> = handlers
        .iter()
        .filter_map(|h| match &h.kind {
            Kind::Topic(topic) => Some(topic),
            _ => None,
        })
        .collect();
    let typed_dispatch = handlers
        .iter()
        .filter(|h| matches!(h.kind, Kind::Task { .. }))
        .count()
        > 1;
    let mut checks = Vec::new();
    for kind in ["topic", "task"] {
        let group: Vec<&Handler> = handlers
            .iter()
            .filter(|h| match (&h.kind, kind) {
                (Kind::TypedTopic, "topic") => true,
                (Kind::Task { catch_all: false }, "task") => typed_dispatch,
                _ => false,
            })
            .collect();
        for (i, h) in group.iter().enumerate() {
            let Some(ty) = &h.message else { continue };
            let types = wire_types(ty);
            let span = syn::spanned::Spanned::span(ty);
            for earlier in &group[..i] {
                let Some(earlier_ty) = &earlier.message else {
                    continue;
                };
                let earlier_types = wire_types(earlier_ty);
                let message = format!(
                    "`{}` takes a wire type that `{}` already takes: each {kind} type has one handler",
                    h.method, earlier.method
                );
                checks.push(quote_spanned! {span=>
                    const _: () = if #p::overlap(#types, #earlier_types) {
                        ::core::panic!(#message)
                    };
                });
            }
            if kind == "topic" && !literal.is_empty() {
                let message = format!(
                    "a wire type of `{}` is also a `#[topic(\"...\")]` of another handler",
                    h.method
                );
                checks.push(quote_spanned! {span=>
                    const _: () = if #p::overlap(#types, &[#(#literal),*]) {
                        ::core::panic!(#message)
                    };
                });
            }
            if kind == "task" {
                // Several `#[task]` handlers are chosen by wire type: each takes a `#[message]`.
                checks.push(quote_spanned! {span=>
                    const _: &[&::core::primitive::str] = #types;
                });
            }
        }
    }
    quote!(#(#checks)*)
}

/// The message type as the user wrote it, without the spaces token printing adds.
fn type_name(ty: &Type) -> String {
    let mut text = quote!(#ty).to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" < ", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
    ] {
        text = text.replace(from, to);
    }
    text
}

fn fallback_exists(handlers: &[Handler]) -> bool {
    handlers.iter().any(|h| matches!(h.kind, Kind::CatchAll))
}

/// `outcome(Self::method(self, [topic,] decode::<T>(payload)?, [ctx]).await)`, with the
/// decode bound spanned at the message type, the context at the context's type and the
/// outcome bound at the return type, so type errors land on the user's tokens.
fn call(h: &Handler, payload: TokenStream, topic: Option<TokenStream>) -> TokenStream {
    let p = quote!(::experimance::__private);
    let method = &h.method;
    let message = h.message.as_ref().map(|ty| {
        quote_spanned! {syn::spanned::Spanned::span(ty)=>
            #p::decode_checked::<#ty>(#payload, {
                #[allow(unused_imports)]
                use #p::{Typed as _, Untyped as _};
                (&#p::TypeProbe::<#ty>::new()).wire()
            })?,
        }
    });
    let topic = topic.map(|t| quote!(#t,));
    let ctx = h.context.map(|span| quote_spanned!(span=> __exp_ctx));
    let output = quote_spanned!(h.output_span=> ::experimance::__private::outcome(__exp_output));
    quote! {{
        let __exp_output = Self::#method(self, #topic #message #ctx).await;
        #output
    }}
}

/// A handler whose socket the service lacks, or whose topic it does not subscribe to, is a
/// compile error at the handler's attribute.
fn socket_check(self_ty: &Type, h: &Handler) -> Option<TokenStream> {
    let p = quote!(::experimance::__private);
    let spec = quote!(<#self_ty as #p::Service>::SPEC);
    let unchecked = quote!(<#self_ty as #p::Service>::__UNCHECKED);
    let ty = quote!(#self_ty).to_string();
    let missing = |key: &str, what: &str| {
        format!("{what}, but `{ty}` has no `{key}` socket: add `{key} = \"...\"` to its #[service(...)]")
    };
    let attr = &h.attr;
    match &h.kind {
        Kind::Topic(topic) => {
            let no_sub = missing(
                "sub",
                &format!("`{}` handles topic `{}`", h.method, topic.value()),
            );
            let unsubscribed = format!(
                "topic `{}` is not subscribed: no entry of `topics` in #[service(...)] is a prefix of it; add it to `topics`",
                topic.value()
            );
            Some(quote_spanned! {topic.span()=>
                const _: () = if !#unchecked {
                    if #spec.addresses[1].is_none() {
                        ::core::panic!(#no_sub)
                    }
                    if let ::core::option::Option::Some(__exp_topics) = #spec.topics {
                        if !#p::subscribed(__exp_topics, #topic) {
                            ::core::panic!(#unsubscribed)
                        }
                    }
                };
            })
        }
        Kind::OnPeer => {
            let message = format!(
                "`{}` is an `#[on_peer]` hook, but `{ty}` follows no peers: add `watch = [\"<peer>.heartbeat\"]` to its #[service(...)]",
                h.method
            );
            Some(quote_spanned! {attr_span(attr)=>
                const _: () = if !#unchecked && #spec.watch.is_empty() {
                    ::core::panic!(#message)
                };
            })
        }
        Kind::TypedTopic => {
            let ty = h.message.as_ref()?;
            let types = wire_types(ty);
            let no_sub = missing(
                "sub",
                &format!("`{}` handles the wire types of its message", h.method),
            );
            let unsubscribed = format!(
                "a wire type of `{}` is not subscribed: no entry of `topics` in #[service(...)] is a prefix of it; add it to `topics`",
                h.method
            );
            Some(quote_spanned! {attr_span(attr)=>
                const _: () = if !#unchecked {
                    if #spec.addresses[1].is_none() {
                        ::core::panic!(#no_sub)
                    }
                    if let ::core::option::Option::Some(__exp_topics) = #spec.topics {
                        if !#p::all_subscribed(__exp_topics, #types) {
                            ::core::panic!(#unsubscribed)
                        }
                    }
                };
            })
        }
        Kind::CatchAll | Kind::Task { .. } => {
            let (role, key, what) = match h.kind {
                Kind::Task { .. } => (
                    3usize,
                    "pull",
                    format!("`{}` handles PULL messages", h.method),
                ),
                _ => (
                    1,
                    "sub",
                    format!("`{}` is a catch-all for SUB messages", h.method),
                ),
            };
            let message = missing(key, &what);
            Some(quote_spanned! {attr_span(attr)=>
                const _: () = if !#unchecked && #spec.addresses[#role].is_none() {
                    ::core::panic!(#message)
                };
            })
        }
        _ => None,
    }
}

fn attr_span(path: &syn::Path) -> proc_macro2::Span {
    syn::spanned::Spanned::span(path)
}
