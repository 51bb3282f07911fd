//! The model of a `#[handlers]` impl block: one [`Handler`] per annotated method, checked
//! against the signature its kind requires.

use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, ImplItemFn, LitStr, Pat, ReturnType, Type};

use crate::duration::parse_millis;
use crate::errors::Errors;
use crate::service_attr::check_topic;

pub(crate) const TOPIC: &str = "topic";
pub(crate) const CATCH_ALL: &str = "catch_all";
pub(crate) const TASK: &str = "task";
pub(crate) const EVERY: &str = "every";
pub(crate) const ON_START: &str = "on_start";
pub(crate) const ON_STOP: &str = "on_stop";

const ATTRIBUTES: [&str; 6] = [TOPIC, CATCH_ALL, TASK, EVERY, ON_START, ON_STOP];

pub(crate) enum Kind {
    /// `#[topic("era")]`
    Topic(LitStr),
    /// `#[catch_all]`
    CatchAll,
    /// `#[task]`
    Task,
    /// `#[every("250ms")]`, with the period in milliseconds.
    Every(u64),
    /// `#[on_start]`
    OnStart,
    /// `#[on_stop]`
    OnStop,
}

pub(crate) struct Handler {
    pub(crate) kind: Kind,
    /// The attribute's path, to point at when the handler as a whole is wrong.
    pub(crate) attr: syn::Path,
    pub(crate) method: Ident,
    /// The message type, for kinds that receive one.
    pub(crate) message: Option<Type>,
    pub(crate) has_context: bool,
    /// Where a wrong return type is reported.
    pub(crate) output_span: proc_macro2::Span,
}

impl Kind {
    fn signature(&self) -> &'static str {
        match self {
            Kind::Topic(_) | Kind::Task => {
                "(&mut self, message: T) or (&mut self, message: T, ctx: &Context<Self>)"
            }
            Kind::CatchAll => {
                "(&mut self, topic: &str, message: T) or (&mut self, topic: &str, message: T, ctx: &Context<Self>)"
            }
            Kind::Every(_) | Kind::OnStart | Kind::OnStop => {
                "(&mut self) or (&mut self, ctx: &Context<Self>)"
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
        let lit: LitStr = attr.parse_args().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the topic as a string literal: `#[topic(\"era\")]`",
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
        no_args(Kind::Task)
    } else if path.is_ident(ON_START) {
        no_args(Kind::OnStart)
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
    if !sig.generics.params.is_empty() {
        errors_here.at(&sig.generics, "handlers cannot be generic");
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() => {}
        Some(other) => errors_here.at(
            other,
            "a handler's first parameter is `&mut self` (or `&self`)",
        ),
        None => errors_here.at(
            &sig.ident,
            format!(
                "this handler takes no parameters; expected {}",
                kind.signature()
            ),
        ),
    }
    let rest: Vec<&syn::PatType> = inputs
        .filter_map(|arg| match arg {
            FnArg::Typed(t) => Some(t),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let wants_topic = matches!(kind, Kind::CatchAll);
    let wants_message = matches!(kind, Kind::Topic(_) | Kind::Task | Kind::CatchAll);
    let required = usize::from(wants_topic) + usize::from(wants_message);
    let mut message = None;
    let mut has_context = false;
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
                errors_here.at(&topic.ty, "the catch-all's topic parameter is `&str`");
            }
        }
        if wants_message {
            let param = params.next().expect("counted");
            if let Type::Reference(_) = *param.ty {
                errors_here.at(
                    &param.ty,
                    "the message parameter must be an owned type that implements `serde::de::DeserializeOwned` (`String`, `serde_json::Value`, or a `#[derive(Deserialize)]` type)",
                );
            } else if is_context(&param.ty) {
                errors_here.at(
                    &param.ty,
                    format!(
                        "expected the message before the context: this handler takes {}",
                        kind.signature()
                    ),
                );
            }
            message = Some((*param.ty).clone());
        }
        if let Some(ctx) = params.next() {
            if is_context(&ctx.ty) {
                has_context = true;
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
        has_context,
        output_span: match &sig.output {
            ReturnType::Default => sig.ident.span(),
            ReturnType::Type(_, ty) => ty.span(),
        },
    })
}

fn is_str_ref(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => {
            r.mutability.is_none() && matches!(&*r.elem, Type::Path(p) if p.path.is_ident("str"))
        }
        _ => false,
    }
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
