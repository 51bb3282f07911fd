//! `#[service(...)]` on a struct → `impl Service` (the spec) and the socket marker traits.
//!
//! Input:
//! ```text
//! #[service(pub = "tcp://*:5555", heartbeat = "mypub.heartbeat")]
//! struct MyPublisher;
//! ```
//! Output:
//! ```text
//! struct MyPublisher;
//! impl Service for MyPublisher { const SPEC: ServiceSpec = ServiceSpec { name: "MyPublisher", .. }; }
//! impl HasPub for MyPublisher {}
//! ```

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ItemStruct;

use crate::errors::Errors;
use crate::service_attr::{ServiceAttr, SUB};

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: ItemStruct = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(e) => {
            let error = syn::Error::new(
                e.span(),
                "#[service] goes on a struct: `#[service(pub = \"tcp://*:5555\")] struct MyService { ... }`",
            )
            .to_compile_error();
            return quote!(#input #error);
        }
    };
    let mut errors = Errors::default();
    let attr = ServiceAttr::parse(args, &mut errors);
    if !item.generics.params.is_empty() {
        errors.at(&item.generics, "a service cannot be generic");
    }
    let body = if errors.is_empty() {
        service_impl(&item, &attr, true)
    } else {
        // Still implement the trait, marked unchecked and with every socket, so the handlers'
        // checks and `ctx.publish`/`ctx.push` stay quiet and the user sees the attribute's
        // errors only.
        service_impl(&item, &ServiceAttr::default(), false)
    };
    let errors = errors.into_compile_errors();
    quote! {
        #item
        #body
        #errors
    }
}

fn service_impl(item: &ItemStruct, attr: &ServiceAttr, checked: bool) -> TokenStream {
    let ident = &item.ident;
    let name = attr
        .name
        .as_ref()
        .map(|n| n.value())
        .unwrap_or_else(|| ident.to_string());
    let service_type = attr
        .service_type
        .as_ref()
        .map(|t| t.value())
        .unwrap_or_else(|| default_service_type(attr).to_owned());
    let fields = spec_fields(attr);
    // Only reached with generics in the fallback; the bound keeps a generic #[handlers] impl
    // from causing errors of its own.
    let (_, ty_generics, _) = item.generics.split_for_impl();
    let self_is_handlers: syn::WherePredicate =
        syn::parse_quote!(#ident #ty_generics: ::experimance::__private::Handlers);
    let mut generics = item.generics.clone();
    if !generics.params.is_empty() {
        generics
            .make_where_clause()
            .predicates
            .push(self_is_handlers.clone());
    }
    // Without a #[handlers] impl, the `Service` impl reports it; the markers must not report
    // it again. `for<'__exp>` makes the bound non-trivial, so it is assumed, not checked.
    let mut marker_generics = item.generics.clone();
    marker_generics
        .make_where_clause()
        .predicates
        .push(syn::parse_quote!(for<'__exp> #self_is_handlers));
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let (marker_impl_generics, _, marker_where_clause) = marker_generics.split_for_impl();
    let markers = [(0, quote!(HasPub)), (2, quote!(HasPush))]
        .into_iter()
        .filter(|(i, _)| !checked || attr.addresses[*i].is_some())
        .map(|(_, marker)| {
            quote! {
                #[automatically_derived]
                impl #marker_impl_generics ::experimance::__private::#marker for #ident #ty_generics #marker_where_clause {}
            }
        });
    let unchecked = (!checked).then(|| {
        quote!(
            const __UNCHECKED: ::core::primitive::bool = true;
        )
    });
    let sub_check = subscription_check(ident, attr);
    quote! {
        #[automatically_derived]
        impl #impl_generics ::experimance::__private::Service for #ident #ty_generics #where_clause {
            const SPEC: ::experimance::__private::ServiceSpec = ::experimance::__private::ServiceSpec {
                name: #name,
                service_type: #service_type,
                #(#fields,)*
                ..::experimance::__private::ServiceSpec::DEFAULT
            };
            #unchecked
        }
        #(#markers)*
        #sub_check
    }
}

/// The spec fields the attribute sets; the others keep `ServiceSpec::DEFAULT`, so the
/// expansion shows only what the user wrote.
fn spec_fields(attr: &ServiceAttr) -> Vec<TokenStream> {
    let p = quote!(::experimance::__private);
    let some = |value: TokenStream| quote!(::core::option::Option::Some(#value));
    let none = quote!(::core::option::Option::None);
    let millis = |ms: u64| quote!(#p::Duration::from_millis(#ms));
    let optional_millis =
        |ms: Option<u64>| ms.map(millis).map(some).unwrap_or_else(|| none.clone());
    let mut fields = Vec::new();
    if attr.addresses.iter().any(Option::is_some) {
        let addresses = attr.addresses.iter().map(|a| match a {
            Some(list) => some(quote!(&[#(#list),*])),
            None => none.clone(),
        });
        fields.push(quote!(addresses: [#(#addresses),*]));
    }
    if let Some(list) = &attr.topics {
        fields.push(quote!(topics: ::core::option::Option::Some(&[#(#list),*])));
    }
    if let Some(topic) = &attr.heartbeat {
        fields.push(quote!(heartbeat_topic: #topic));
    }
    if let Some(ms) = attr.heartbeat_interval {
        let value = optional_millis(ms);
        fields.push(quote!(heartbeat_interval: #value));
    }
    if let Some(topic) = &attr.default_topic {
        fields.push(quote!(default_topic: ::core::option::Option::Some(#topic)));
    }
    if let Some(ms) = attr.stats_interval {
        let value = optional_millis(ms);
        fields.push(quote!(stats_interval: #value));
    }
    if let Some((_, list)) = &attr.watch {
        fields.push(quote!(watch: &[#(#list),*]));
    }
    if let Some((_, list)) = &attr.hub {
        fields.push(quote!(hub: ::core::option::Option::Some(&[#(#list),*])));
    }
    if let Some(list) = &attr.publishes {
        fields.push(quote!(publishes: &[#(#list),*]));
    }
    if let Some(ms) = attr.peer_interval {
        let value = millis(ms);
        fields.push(quote!(peer_interval: #value));
    }
    if let Some(hwm) = attr.hwm {
        fields.push(quote!(hwm: ::core::option::Option::Some(#hwm)));
    }
    if let Some(bytes) = attr.max_message_size {
        fields.push(quote!(max_message_size: #bytes));
    }
    if let Some(ms) = attr.drain_timeout {
        let value = millis(ms);
        fields.push(quote!(drain_timeout: #value));
    }
    if let Some(messages) = attr.send_queue {
        fields.push(quote!(send_queue: #messages));
    }
    if let Some(ms) = attr.send_timeout {
        let value = millis(ms);
        fields.push(quote!(send_timeout: #value));
    }
    if let Some(bytes) = attr.max_subscription_size {
        fields.push(quote!(max_subscription_size: #bytes));
    }
    if let Some(count) = attr.max_subscriptions {
        fields.push(quote!(max_subscriptions: #count));
    }
    if let Some(ms) = attr.zmtp_heartbeat {
        let value = optional_millis(ms);
        fields.push(quote!(zmtp_heartbeat: #value));
    }
    let mut auth = Vec::new();
    for (key, lit) in [("username", &attr.username), ("password", &attr.password)] {
        if let Some(lit) = lit {
            let key = syn::Ident::new(key, proc_macro2::Span::call_site());
            auth.push(quote!(#key: ::core::option::Option::Some(#lit)));
        }
    }
    if let Some(list) = &attr.allow {
        auth.push(quote!(allow: &[#(#list),*]));
    }
    if let Some(curve) = attr.curve {
        auth.push(quote!(curve: #curve));
    }
    let curve_keys = ["curve_secret_key", "curve_public_key", "curve_server_key"];
    for (key, lit) in curve_keys.iter().zip(&attr.curve_keys) {
        if let Some(lit) = lit {
            let key = syn::Ident::new(key, proc_macro2::Span::call_site());
            auth.push(quote!(#key: ::core::option::Option::Some(#lit)));
        }
    }
    if let Some(list) = &attr.curve_allow {
        auth.push(quote!(curve_allow: &[#(#list),*]));
    }
    if !auth.is_empty() {
        fields.push(quote!(auth: #p::AuthSpec { #(#auth,)* ..#p::ServiceSpec::DEFAULT.auth }));
    }
    fields
}

/// A `sub` without `topics` subscribes to the handlers' topics: there must be some.
fn subscription_check(ident: &syn::Ident, attr: &ServiceAttr) -> Option<TokenStream> {
    let sub = attr.addresses[1].as_ref()?.first()?;
    if attr.topics.is_some() || attr.watch.is_some() {
        return None;
    }
    let message = format!(
        "`{SUB}` has nothing to subscribe to: add `topics = [...]` to #[service] (`[\"\"]` for every topic), or a `#[topic(\"...\")]` handler to the #[handlers] impl of `{ident}`"
    );
    Some(quote_spanned! {sub.span()=>
        const _: () = if !<#ident as ::experimance::__private::Handlers>::__UNCHECKED
            && <#ident as ::experimance::__private::Handlers>::TOPICS.is_empty()
        {
            ::core::panic!(#message)
        };
    })
}

/// The Python class name a combination of sockets corresponds to, in snake case.
fn default_service_type(attr: &ServiceAttr) -> &'static str {
    let has = |i: usize| attr.addresses[i].is_some();
    match (has(0), has(1), has(2), has(3)) {
        (false, false, false, false) => "base",
        (true, false, false, false) => "publisher",
        (false, true, false, false) => "subscriber",
        (false, false, true, false) => "push",
        (false, false, false, true) => "pull",
        (true, true, false, false) => "publisher_subscriber",
        (true, true, true, true) => "controller",
        (false, true, true, true) => "worker",
        _ => "service",
    }
}
