//! `#[message]` on a struct or an enum → a message type with a wire type (`Message`).
//!
//! On a struct with named fields, placed above its `#[derive(Serialize, Deserialize)]` (or
//! without one: the derives it lacks are added):
//! ```text
//! #[message]                 // or #[message("RenderRequest")]
//! #[derive(Serialize, Deserialize)]
//! struct RenderRequest { width: Option<u32> }
//! ```
//! Output: the struct with `#[serde(tag = "type")]` (so `"type": "RenderRequest"` is written
//! first, as the Python models write it), and `impl Message` / `impl WireType` naming its
//! type.
//!
//! On an enum whose variants each hold one `#[message]` struct (no derive):
//! ```text
//! #[message]
//! enum Event { EraChanged(EraChanged), Idle(Idle) }
//! ```
//! Output: `Serialize` (as the variant's struct), `Deserialize` (by `"type"`), and
//! `impl Message` with one wire type per variant.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, LitStr};

use crate::errors::Errors;

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut item: DeriveInput = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(e) => {
            let error = syn::Error::new(
                e.span(),
                "#[message] goes on a struct with named fields, or on an enum of #[message] structs",
            )
            .to_compile_error();
            return quote!(#input #error);
        }
    };
    let mut errors = Errors::default();
    let name: Option<LitStr> = if args.is_empty() {
        None
    } else {
        match syn::parse2::<LitStr>(args.clone()) {
            Ok(lit) if !lit.value().is_empty() && !lit.value().contains(char::is_whitespace) => {
                Some(lit)
            }
            Ok(lit) => {
                errors.at(
                    &lit,
                    "a wire type is not empty and has no whitespace (it is also the topic)",
                );
                None
            }
            Err(_) => {
                errors.at(
                    &args,
                    "#[message] takes nothing, or the wire type as a string: `#[message(\"RenderRequest\")]`",
                );
                None
            }
        }
    };
    if !item.generics.params.is_empty() {
        errors.at(&item.generics, "a #[message] type cannot be generic");
    }
    let body = match &item.data {
        Data::Struct(data) => {
            match &data.fields {
                Fields::Named(fields) => {
                    for field in &fields.named {
                        if is_type_field(field) {
                            errors.at(
                                field.ident.as_ref().map_or_else(|| quote!(#field), |i| quote!(#i)),
                                "#[message] writes the `\"type\"` field itself; remove this field",
                            );
                        }
                    }
                }
                other => errors.at(
                    other,
                    "a #[message] struct has named fields (the Python models are JSON objects); write `{}` for one without fields",
                ),
            }
            check_container(&item.attrs, &mut errors);
            let wire = name
                .as_ref()
                .map(LitStr::value)
                .unwrap_or_else(|| item.ident.to_string());
            // Only on a valid struct: serde's own errors would repeat these.
            if errors.is_empty() {
                // The serde derives the struct lacks are added. (A derive written above
                // `#[message]` has already run without the tag: adding it again makes the
                // mistake a compile error rather than a message without its `"type"`.)
                let p = quote!(::experimance::__private::serde);
                let missing: Vec<TokenStream> = ["Serialize", "Deserialize"]
                    .into_iter()
                    .filter(|t| !item.attrs.iter().any(|a| derives(a, t)))
                    .map(|t| {
                        let t = syn::Ident::new(t, proc_macro2::Span::call_site());
                        quote!(#p::#t)
                    })
                    .collect();
                if !missing.is_empty() {
                    item.attrs.push(syn::parse_quote!(#[derive(#(#missing),*)]));
                    if !item
                        .attrs
                        .iter()
                        .any(|a| derives(a, "Serialize") || derives(a, "Deserialize"))
                    {
                        item.attrs.push(
                            syn::parse_quote!(#[serde(crate = "::experimance::__private::serde")]),
                        );
                    }
                }
                item.attrs.push(syn::parse_quote!(#[serde(tag = "type")]));
                if let Some(name) = &name {
                    item.attrs.push(syn::parse_quote!(#[serde(rename = #name)]));
                }
            }
            struct_impls(&item, &wire)
        }
        Data::Enum(data) => {
            if let Some(name) = &name {
                errors.at(
                    name,
                    "a #[message] enum takes its wire types from its variants' structs; remove the name",
                );
            }
            for attr in &item.attrs {
                if derives_serde(attr) {
                    errors.at(
                        attr,
                        "a #[message] enum is written and read as its variants' structs, by `\"type\"`; remove `Serialize` and `Deserialize` from its derive",
                    );
                }
            }
            let mut variants = Vec::new();
            for variant in &data.variants {
                match &variant.fields {
                    Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                        variants.push((&variant.ident, &fields.unnamed[0].ty));
                    }
                    _ => errors.at(
                        variant,
                        format!(
                            "each variant of a #[message] enum holds one #[message] struct: `{0}({0})`",
                            variant.ident
                        ),
                    ),
                }
            }
            if data.variants.is_empty() {
                errors.at(&item.ident, "a #[message] enum needs at least one variant");
            }
            enum_impls(&item, &variants)
        }
        Data::Union(_) => {
            errors.at(
                &item.ident,
                "#[message] goes on a struct or an enum, not a union",
            );
            quote!()
        }
    };
    let body = if errors.is_empty() { body } else { quote!() };
    let errors = errors.into_compile_errors();
    quote! {
        #item
        #body
        #errors
    }
}

/// A field that would write `"type"` itself: named `type` (`r#type`) or renamed to it.
fn is_type_field(field: &syn::Field) -> bool {
    let named_type = field
        .ident
        .as_ref()
        .is_some_and(|i| i.to_string().trim_start_matches("r#") == "type");
    named_type || serde_value(&field.attrs, "rename").is_some_and(|v| v == "type")
}

/// `#[serde(tag)]` and `#[serde(rename)]` on the struct would fight `#[message]`'s own, and
/// `#[serde(deny_unknown_fields)]` would refuse the `"type"` serde ignores when reading.
fn check_container(attrs: &[Attribute], errors: &mut Errors) {
    if let Some(attr) = attrs.iter().find(|a| serde_flag(a, "deny_unknown_fields")) {
        errors.at(
            attr,
            "serde reads a #[message] struct without its `\"type\"`, which `deny_unknown_fields` would then refuse in every message; remove it",
        );
    }
    for key in ["tag", "rename"] {
        if let Some(attr) = attrs.iter().find(|a| {
            a.path().is_ident("serde") && serde_value(std::slice::from_ref(a), key).is_some()
        }) {
            let hint = match key {
                "tag" => "#[message] writes `\"type\"` itself; remove `tag`",
                _ => "name the wire type with `#[message(\"...\")]` instead of `#[serde(rename)]`",
            };
            errors.at(attr, hint);
        }
    }
}

/// The string value of `key` in the `#[serde(...)]` attributes of `attrs`, if any.
fn serde_value(attrs: &[Attribute], key: &str) -> Option<String> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(key) {
                if let Ok(value) = meta.value().and_then(|v| v.parse::<LitStr>()) {
                    found = Some(value.value());
                }
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _ = meta.parse_nested_meta(|_| Ok(()));
            }
            Ok(())
        });
    }
    found
}

/// Whether `attr` is a `#[serde(...)]` holding the bare flag `flag`.
fn serde_flag(attr: &Attribute, flag: &str) -> bool {
    if !attr.path().is_ident("serde") {
        return false;
    }
    let mut found = false;
    let _ = attr.parse_nested_meta(|meta| {
        found |= meta.path.is_ident(flag);
        if meta.input.peek(syn::Token![=]) {
            let _: syn::Expr = meta.value()?.parse()?;
        } else if meta.input.peek(syn::token::Paren) {
            let _ = meta.parse_nested_meta(|_| Ok(()));
        }
        Ok(())
    });
    found
}

fn derives_serde(attr: &Attribute) -> bool {
    derives(attr, "Serialize") || derives(attr, "Deserialize")
}

/// Whether `attr` is a `#[derive(...)]` that names `name` (by its last path segment).
fn derives(attr: &Attribute, name: &str) -> bool {
    if !attr.path().is_ident("derive") {
        return false;
    }
    let mut found = false;
    let _ = attr.parse_nested_meta(|meta| {
        found |= meta.path.segments.last().is_some_and(|s| s.ident == name);
        Ok(())
    });
    found
}

fn struct_impls(item: &DeriveInput, wire: &str) -> TokenStream {
    let p = quote!(::experimance::__private);
    let ident = &item.ident;
    quote_spanned! {ident.span()=>
        #[automatically_derived]
        impl #p::Message for #ident {
            const TYPES: &'static [&'static ::core::primitive::str] = &[#wire];
            fn decode_typed(
                _: &::core::primitive::str,
                __exp_json: &::core::primitive::str,
            ) -> ::core::result::Result<Self, #p::serde_json::Error> {
                #p::decode_json(__exp_json)
            }
        }
        #[automatically_derived]
        impl #p::WireType for #ident {
            const TYPE: &'static ::core::primitive::str = #wire;
        }
    }
}

fn enum_impls(item: &DeriveInput, variants: &[(&syn::Ident, &syn::Type)]) -> TokenStream {
    let p = quote!(::experimance::__private);
    let ident = &item.ident;
    let name = ident.to_string();
    // Each variant's struct must be a `#[message]` struct: the bound is spanned at its type.
    let wire = |ty: &syn::Type| quote_spanned!(ty.span()=> <#ty as #p::WireType>::TYPE);
    let types = variants.iter().map(|(_, ty)| wire(ty));
    let serialize_arms = variants.iter().map(|(v, _)| {
        quote!(Self::#v(__exp_message) => #p::serde::Serialize::serialize(__exp_message, __exp_serializer),)
    });
    let deserialize_arms = variants.iter().map(|(v, ty)| {
        let wire = wire(ty);
        quote! {
            ::core::option::Option::Some(__exp_t) if __exp_t == #wire => {
                <#ty as #p::serde::Deserialize>::deserialize(__exp_value)
                    .map(Self::#v)
                    .map_err(<__D::Error as #p::serde::de::Error>::custom)
            }
        }
    });
    let decode_arms = variants.iter().map(|(v, ty)| {
        let wire = wire(ty);
        quote! {
            if __exp_type == #wire {
                return #p::decode_json::<#ty>(__exp_json).map(Self::#v);
            }
        }
    });
    let duplicate = format!("two variants of `{name}` hold structs of the same wire type");
    quote! {
        #[automatically_derived]
        impl #p::serde::Serialize for #ident {
            fn serialize<__S: #p::serde::Serializer>(
                &self,
                __exp_serializer: __S,
            ) -> ::core::result::Result<__S::Ok, __S::Error> {
                match self {
                    #(#serialize_arms)*
                }
            }
        }
        #[automatically_derived]
        impl<'de> #p::serde::Deserialize<'de> for #ident {
            fn deserialize<__D: #p::serde::Deserializer<'de>>(
                __exp_deserializer: __D,
            ) -> ::core::result::Result<Self, __D::Error> {
                let __exp_value = <#p::serde_json::Value as #p::serde::Deserialize>::deserialize(__exp_deserializer)?;
                let __exp_type = __exp_value
                    .get("type")
                    .and_then(#p::serde_json::Value::as_str)
                    .map(::std::borrow::ToOwned::to_owned);
                match __exp_type.as_deref() {
                    #(#deserialize_arms)*
                    __exp_other => ::core::result::Result::Err(<__D::Error as #p::serde::de::Error>::custom(
                        #p::unknown_type(<Self as #p::Message>::TYPES, __exp_other),
                    )),
                }
            }
        }
        #[automatically_derived]
        impl #p::Message for #ident {
            const TYPES: &'static [&'static ::core::primitive::str] = &[#(#types),*];
            fn decode_typed(
                __exp_type: &::core::primitive::str,
                __exp_json: &::core::primitive::str,
            ) -> ::core::result::Result<Self, #p::serde_json::Error> {
                #(#decode_arms)*
                ::core::result::Result::Err(<#p::serde_json::Error as #p::serde::de::Error>::custom(
                    #p::unknown_type(<Self as #p::Message>::TYPES, ::core::option::Option::Some(__exp_type)),
                ))
            }
        }
        const _: () = if #p::has_duplicate(<#ident as #p::Message>::TYPES) {
            ::core::panic!(#duplicate)
        };
    }
}
