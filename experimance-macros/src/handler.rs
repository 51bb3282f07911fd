//! The model of a `#[handlers]` impl block: one [`Handler`] per annotated method, checked
//! against the signature its kind requires.

use syn::spanned::Spanned;
use syn::{Attribute, FnArg, GenericParam, Ident, ImplItemFn, LitStr, Pat, ReturnType, Type};

use crate::duration::parse_millis;
use crate::errors::Errors;
use crate::service_attr::check_topic;

pub(crate) const TOPIC: &str = "topic";
pub(crate) const CATCH_ALL: &str = "catch_all";
pub(crate) const TASK: &str = "task";
pub(crate) const EVERY: &str = "every";
pub(crate) const ON_START: &str = "on_start";
pub(crate) const ON_STOP: &str = "on_stop";
pub(crate) const ON_PEER: &str = "on_peer";

const ATTRIBUTES: [&str; 7] = [TOPIC, CATCH_ALL, TASK, EVERY, ON_START, ON_STOP, ON_PEER];

pub(crate) enum Kind {
    /// `#[topic("era")]`
    Topic(LitStr),
    /// `#[topic]`: the topics are the wire types of the handler's `#[message]` type.
    TypedTopic,
    /// `#[catch_all]`
    CatchAll,
    /// `#[task]`, or `#[task(catch_all)]` for the task types no other `#[task]` takes.
    Task { catch_all: bool },
    /// `#[every("250ms")]`, with the period in milliseconds.
    Every(u64),
    /// `#[on_start]`
    OnStart,
    /// `#[on_stop]`
    OnStop,
    /// `#[on_peer]`
    OnPeer,
}

pub(crate) struct Handler {
    pub(crate) kind: Kind,
    /// The attribute's path, to point at when the handler as a whole is wrong.
    pub(crate) attr: syn::Path,
    pub(crate) method: Ident,
    /// The message type, for kinds that receive one.
    pub(crate) message: Option<Type>,
    /// The context parameter's type, if the handler takes one: a context of another service
    /// is reported there.
    pub(crate) context: Option<proc_macro2::Span>,
    /// Where a wrong return type is reported.
    pub(crate) output_span: proc_macro2::Span,
}

impl Kind {
    fn signature(&self) -> &'static str {
        match self {
            Kind::Topic(_) | Kind::TypedTopic | Kind::Task { .. } => {
                "(&mut self, message: T) or (&mut self, message: T, ctx: &Context<Self>)"
            }
            Kind::CatchAll => {
                "(&mut self, topic: &str, message: T) or (&mut self, topic: &str, message: T, ctx: &Context<Self>)"
            }
            Kind::Every(_) | Kind::OnStart | Kind::OnStop => {
                "(&mut self) or (&mut self, ctx: &Context<Self>)"
            }
            Kind::OnPeer => {
                "(&mut self, peer: &str, liveness: Liveness) or (&mut self, peer: &str, liveness: Liveness, ctx: &Context<Self>)"
            }
        }
    }
}

/// Removes the handler attributes from `method` and returns the handler they declare, if any.
pub(crate) fn take_handler(method: &mut ImplItemFn, errors: &mut Errors) -> Option<Handler> {
    let mut found: Vec<Attribute> = Vec::new();
    method.attrs.retain(|attr| {
        let ours = ATTRIBUTES.iter().any(|a| attr.path().is_ident(a));
        if ours {
            found.push(attr.clone());
        }
        !ours
    });
    let mut found = found.into_iter();
    let attr = found.next()?;
    for extra in found {
        errors.at(
            extra.path(),
            "a method can be only one kind of handler; split it into two methods",
        );
    }
    let kind = match parse_kind(&attr) {
        Ok(kind) => kind,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    check_signature(method, &attr, kind, errors)
}

fn parse_kind(attr: &Attribute) -> syn::Result<Kind> {
    let path = attr.path();
    let no_args = |kind: Kind| match &attr.meta {
        syn::Meta::Path(_) => Ok(kind),
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "`#[{}]` takes no arguments",
                path.get_ident().map(|i| i.to_string()).unwrap_or_default()
            ),
        )),
    };
    if path.is_ident(TOPIC) {
        if let syn::Meta::Path(_) = &attr.meta {
            return Ok(Kind::TypedTopic);
        }
        let lit: LitStr = attr.parse_args().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the topic as a string literal: `#[topic(\"era\")]`, or `#[topic]` for the wire type of a `#[message]` type",
            )
        })?;
        check_topic(&lit)?;
        Ok(Kind::Topic(lit))
    } else if path.is_ident(EVERY) {
        let lit: LitStr = attr.parse_args().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a period as a string literal: `#[every(\"250ms\")]`",
            )
        })?;
        let millis = parse_millis(&lit.value()).map_err(|e| syn::Error::new(lit.span(), e))?;
        Ok(Kind::Every(millis))
    } else if path.is_ident(CATCH_ALL) {
        no_args(Kind::CatchAll)
    } else if path.is_ident(TASK) {
        match &attr.meta {
            syn::Meta::Path(_) => Ok(Kind::Task { catch_all: false }),
            _ => {
                let arg: Ident = attr.parse_args().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "`#[task]` takes nothing, or `catch_all`: `#[task(catch_all)]`",
                    )
                })?;
                if arg != CATCH_ALL {
                    return Err(syn::Error::new(
                        arg.span(),
                        "`#[task]` takes nothing, or `catch_all`: `#[task(catch_all)]`",
                    ));
                }
                Ok(Kind::Task { catch_all: true })
            }
        }
    } else if path.is_ident(ON_START) {
        no_args(Kind::OnStart)
    } else if path.is_ident(ON_PEER) {
        no_args(Kind::OnPeer)
    } else {
        no_args(Kind::OnStop)
    }
}

fn check_signature(
    method: &ImplItemFn,
    attr: &Attribute,
    kind: Kind,
    errors: &mut Errors,
) -> Option<Handler> {
    let sig = &method.sig;
    let mut errors_here = Errors::default();
    if sig.asyncness.is_none() {
        errors_here.at(
            sig.fn_token,
            format!(
                "handlers must be `async fn`: write `async fn {}`",
                sig.ident
            ),
        );
    }
    let params = &sig.generics.params;
    if !params.is_empty()
        && params
            .iter()
            .all(|p| matches!(p, GenericParam::Lifetime(_)))
    {
        errors_here.at(
            &sig.generics,
            "handlers take no lifetime parameters: a message type that borrows from the frame is written with `'_`, as in `msg: Frame<'_>`",
        );
    } else if !params.is_empty() {
        errors_here.at(&sig.generics, "handlers cannot be generic");
    }
    let mut inputs = sig.inputs.iter().peekable();
    match inputs.peek() {
        Some(FnArg::Receiver(r)) => {
            if !matches!(*r.ty, Type::Reference(_)) {
                errors_here.at(
                    r,
                    "a handler borrows its service: write `&mut self` (or `&self`)",
                );
            }
            inputs.next();
        }
        // Not consumed: counting it as the message avoids a second "missing parameter" error.
        Some(FnArg::Typed(first)) => errors_here.at(
            first,
            "a handler's first parameter is `&mut self` (or `&self`); add it before this one",
        ),
        None => {
            errors.push(syn::Error::new(
                sig.paren_token.span.join(),
                format!(
                    "this handler takes no parameters; expected {}",
                    kind.signature()
                ),
            ));
            errors.push_all(errors_here);
            return None;
        }
    }
    let rest: Vec<&syn::PatType> = inputs
        .filter_map(|arg| match arg {
            FnArg::Typed(t) => Some(t),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let wants_topic = matches!(kind, Kind::CatchAll | Kind::OnPeer);
    let wants_message = matches!(
        kind,
        Kind::Topic(_) | Kind::TypedTopic | Kind::Task { .. } | Kind::CatchAll
    );
    let wants_liveness = matches!(kind, Kind::OnPeer);
    let required =
        usize::from(wants_topic) + usize::from(wants_message) + usize::from(wants_liveness);
    let mut message = None;
    let mut context = None;
    if rest.len() < required {
        errors_here.at(
            &sig.ident,
            format!("missing parameter: this handler takes {}", kind.signature()),
        );
    } else {
        let mut params = rest.iter();
        if wants_topic {
            let topic = params.next().expect("counted");
            if !is_str_ref(&topic.ty) {
                let what = match kind {
                    Kind::OnPeer => "the peer's name parameter is `&str`",
                    _ => "the catch-all's topic parameter is `&str`",
                };
                errors_here.at(&topic.ty, what);
            }
        }
        if wants_liveness {
            let param = params.next().expect("counted");
            let is_liveness = matches!(&*param.ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Liveness"));
            if !is_liveness {
                errors_here.at(
                    &param.ty,
                    format!(
                        "expected `Liveness`: this handler takes {}",
                        kind.signature()
                    ),
                );
            }
        }
        if wants_message {
            let param = params.next().expect("counted");
            if is_context(&param.ty) {
                errors_here.at(
                    &param.ty,
                    format!(
                        "expected the message before the context: this handler takes {}",
                        kind.signature()
                    ),
                );
                // The message, out of place: already reported.
                params.next();
            } else if let Type::Reference(_) = *param.ty {
                errors_here.at(
                    &param.ty,
                    "the message parameter is a value, not a reference: a type that implements `serde::Deserialize` (`String`, `serde_json::Value`, a `#[derive(Deserialize)]` type, or one that borrows from the frame, as `Frame<'_>`)",
                );
            }
            message = Some((*param.ty).clone());
        }
        if let Some(ctx) = params.next() {
            if is_context(&ctx.ty) {
                context = Some(context_arg_span(&ctx.ty));
            } else {
                errors_here.at(
                    &ctx.ty,
                    format!(
                        "expected `&Context<Self>`: this handler takes {}",
                        kind.signature()
                    ),
                );
            }
        }
        if let Some(extra) = params.next() {
            errors_here.at(
                extra,
                format!(
                    "unexpected parameter: this handler takes {}",
                    kind.signature()
                ),
            );
        }
    }
    if let Some(pat) = rest
        .iter()
        .find(|p| !matches!(*p.pat, Pat::Ident(_) | Pat::Wild(_)))
    {
        errors_here.at(&pat.pat, "handler parameters must be plain names");
    }
    let failed = !errors_here.is_empty();
    errors.push_all(errors_here);
    if failed {
        return None;
    }
    Some(Handler {
        kind,
        attr: attr.path().clone(),
        method: sig.ident.clone(),
        message,
        context,
        output_span: match &sig.output {
            ReturnType::Default => sig.ident.span(),
            ReturnType::Type(_, ty) => ty.span(),
        },
    })
}

fn is_str_ref(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => {
            r.mutability.is_none()
                && matches!(&*r.elem, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "str"))
        }
        _ => false,
    }
}

/// The span of `S` in `&Context<S>`: where a context of the wrong service is reported. (A
/// whole type's span is only its first token on stable.)
fn context_arg_span(ty: &Type) -> proc_macro2::Span {
    let arg = match ty {
        Type::Reference(r) => match &*r.elem {
            Type::Path(p) => p.path.segments.last().and_then(|s| match &s.arguments {
                syn::PathArguments::AngleBracketed(a) => a.args.first(),
                _ => None,
            }),
            _ => None,
        },
        _ => None,
    };
    arg.map_or_else(|| ty.span(), |a| a.span())
}

fn is_context(ty: &Type) -> bool {
    let Type::Reference(r) = ty else {
        return false;
    };
    let Type::Path(p) = &*r.elem else {
        return false;
    };
    r.mutability.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Context")
}

#[cfg(test)]
mod tests {
    use syn::ImplItemFn;

    use super::{take_handler, Handler, Kind};
    use crate::errors::Errors;

    fn handler(method: ImplItemFn) -> (Option<Handler>, Vec<String>) {
        let mut method = method;
        let mut errors = Errors::default();
        let handler = take_handler(&mut method, &mut errors);
        assert!(method.attrs.is_empty(), "the handler attribute is stripped");
        let messages = match errors.into_result() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (handler, messages)
    }

    #[test]
    fn accepts_each_kind() {
        let (h, errors) = handler(syn::parse_quote! {
            #[catch_all]
            async fn any(&self, topic: &::core::primitive::str, msg: Value, ctx: &Context<Self>) {}
        });
        assert!(errors.is_empty(), "{errors:?}");
        let h = h.unwrap();
        assert!(matches!(h.kind, Kind::CatchAll));
        assert!(h.message.is_some() && h.context.is_some());

        let (h, errors) = handler(syn::parse_quote! {
            #[every("1m")]
            async fn tick(&mut self) -> Result<(), Error> {}
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert!(matches!(h.unwrap().kind, Kind::Every(60_000)));
    }

    #[test]
    fn a_missing_self_is_one_error() {
        let (h, errors) = handler(syn::parse_quote! {
            #[topic("era")]
            async fn on_era(msg: Value) {}
        });
        assert!(h.is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("a handler's first parameter is `&mut self`"));

        let (_, errors) = handler(syn::parse_quote! {
            #[topic("era")]
            async fn on_era() {}
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn self_by_value_is_rejected() {
        let (_, errors) = handler(syn::parse_quote! {
            #[on_start]
            async fn start(self) {}
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
        let (_, errors) = handler(syn::parse_quote! {
            #[on_start]
            async fn start(self: &mut Self) {}
        });
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn a_context_before_the_message_is_one_error() {
        let (_, errors) = handler(syn::parse_quote! {
            #[task]
            async fn work(&mut self, ctx: &Context<Self>, msg: Value) {}
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("expected the message before the context"));
    }

    #[test]
    fn every_mistake_is_reported() {
        let (_, errors) = handler(syn::parse_quote! {
            #[topic("era")]
            #[task]
            fn on_era<T>(&mut self, msg: &T, ctx: Context<Self>, extra: u8) {}
        });
        assert_eq!(errors.len(), 6, "{errors:?}");
    }
}
