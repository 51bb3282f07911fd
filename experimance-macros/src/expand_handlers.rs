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
            Kind::Task => "there is already a `#[task]` handler (a PULL socket has one)".to_owned(),
            Kind::OnStart => "there is already an `#[on_start]` hook".to_owned(),
            Kind::OnStop => "there is already an `#[on_stop]` hook".to_owned(),
            Kind::OnPeer => "there is already an `#[on_peer]` hook".to_owned(),
            Kind::Every(_) => continue,
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
        | (Kind::Task, Kind::Task)
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

    let topic_arms = handlers.iter().filter_map(|h| match &h.kind {
        Kind::Topic(topic) => {
            let call = call(h, quote!(__exp_payload), None);
            Some(quote!(#topic => #call,))
        }
        _ => None,
    });
    let fallback = match handlers.iter().find(|h| matches!(h.kind, Kind::CatchAll)) {
        Some(h) => call(h, quote!(__exp_payload), Some(quote!(__exp_topic))),
        None => quote!(::core::result::Result::Ok(#p::Handled::NoHandler)),
    };
    let dispatch_topic = (!topics.is_empty() || fallback_exists(handlers)).then(|| {
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
                        _ => #fallback,
                    }
                }
            }
        }
    });
    let dispatch_task = handlers.iter().find(|h| matches!(h.kind, Kind::Task)).map(|h| {
        let call = call(h, quote!(__exp_payload), None);
        quote! {
            fn dispatch_task<'__exp>(
                &'__exp mut self,
                __exp_payload: &'__exp ::core::primitive::str,
                __exp_ctx: &'__exp #p::Context<Self>,
            ) -> impl ::core::future::Future<Output = #p::DispatchResult> + ::core::marker::Send + '__exp {
                async move { #call }
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
            Kind::CatchAll => (quote!(CatchAll), String::new()),
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
        Some(quote!(#p::MessageInfo { kind: #p::HandlerKind::#kind, topic: #topic, message_type: #type_name, schema: #schema }))
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
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #p::Handlers for #self_ty #where_clause {
            const TOPICS: &'static [&'static ::core::primitive::str] = &[#(#topics),*];
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
    }
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
    let message = h
        .message
        .as_ref()
        .map(|ty| quote_spanned!(syn::spanned::Spanned::span(ty)=> #p::decode::<#ty>(#payload)?,));
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
        Kind::CatchAll | Kind::Task => {
            let (role, key, what) = match h.kind {
                Kind::Task => (
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
