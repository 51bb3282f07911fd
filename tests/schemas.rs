//! With the `schemars` feature, a description carries the JSON Schema of each handler's
//! message type that implements `JsonSchema`; other types (and builds without the feature)
//! have none. Run: `cargo test --features schemars --test schemas`.
#![cfg(feature = "schemars")]

use experimance::{handlers, service, Runner};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
struct EraChanged {
    era: String,
    year: u32,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Opaque {
    x: u8,
}

#[service(sub = "tcp://localhost:5555", topics = ["era", "opaque"])]
struct Schematic;

#[handlers]
impl Schematic {
    #[topic("era")]
    async fn on_era(&mut self, _msg: EraChanged) {}

    #[topic("opaque")]
    async fn on_opaque(&mut self, _msg: Opaque) {}
}

#[test]
fn descriptions_carry_schemas_of_json_schema_types() {
    let description = Runner::new(Schematic).describe().expect("describe");
    let era = &description.handlers[0];
    let schema = era.schema.as_ref().expect("EraChanged derives JsonSchema");
    assert_eq!(schema["title"], "EraChanged");
    assert_eq!(schema["properties"]["year"]["type"], "integer");
    assert_eq!(schema["required"], serde_json::json!(["era", "year"]));
    assert!(
        description.handlers[1].schema.is_none(),
        "Opaque has no schema"
    );
}
