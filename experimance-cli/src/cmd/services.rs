//! `services ADDR...`: the services at those PUB endpoints, with their sockets (like
//! `ros2 node list` and `ros2 node info`), from the descriptions they publish.

use experimance_runtime::{ServiceDescription, Untrusted};

use crate::cli::ServicesArgs;
use crate::ctx::{Ctx, Out};
use crate::error::Result;
use crate::json;

/// Runs `services`.
pub fn run(ctx: &Ctx, args: ServicesArgs) -> Result<()> {
    let Some(services) = crate::cmd::describe::descriptions(ctx, &args.addrs, args.timeout)? else {
        return Ok(());
    };
    let mut out = Out::stdout();
    if args.json {
        let rows: Vec<serde_json::Value> = services.iter().map(row).collect();
        return out.line(&json::render(&rows, false)?);
    }
    for line in table(&services) {
        out.line(&line)?;
    }
    Ok(())
}

/// One service as JSON: name, type, sockets, subscriptions, publishes, handlers' types.
fn row(s: &ServiceDescription) -> serde_json::Value {
    serde_json::json!({
        "name": s.name,
        "service_type": s.service_type,
        "sockets": s.sockets.iter().map(|k| serde_json::json!({
            "role": k.role, "direction": k.direction,
            "endpoint": k.endpoint.as_deref().unwrap_or(&k.address),
        })).collect::<Vec<_>>(),
        "subscriptions": s.subscriptions,
        "publishes": s.publishes,
        "handles": s.handlers.iter().map(|h| h.message_type.as_str()).collect::<Vec<_>>(),
    })
}

/// A service per block: its name and type, then a line per socket endpoint, then what it
/// subscribes to and publishes. Names and topics come from peers: escaped.
fn table(services: &[ServiceDescription]) -> Vec<String> {
    let mut lines = Vec::new();
    for s in services {
        lines.push(format!(
            "{} ({})",
            Untrusted::str(&s.name),
            Untrusted::str(&s.service_type)
        ));
        for k in &s.sockets {
            lines.push(format!(
                "  {:<4} {:<7} {}",
                k.role.to_uppercase(),
                k.direction,
                Untrusted::str(k.endpoint.as_deref().unwrap_or(&k.address))
            ));
        }
        let list = |topics: &[String]| {
            if topics.is_empty() {
                "-".to_owned()
            } else {
                topics
                    .iter()
                    .map(|t| Untrusted::str(t).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        lines.push(format!("  subscribes: {}", list(&s.subscriptions)));
        lines.push(format!("  publishes:  {}", list(&s.publishes)));
    }
    lines
}
