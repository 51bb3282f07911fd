//! Writes the installation's contract for the Python side: the JSON Schema of the messages
//! declared in `shared/messages.rs`, and a Python module of pydantic models generated from it.
//!
//! `cargo run --example contract --features schemars -- DIR` writes `DIR/messages.schema.json`
//! and `DIR/messages.py` (DIR defaults to the current directory). A Python service then
//! validates what a Rust service sends with `messages.Messages`, e.g.
//! `pydantic.TypeAdapter(messages.Messages).validate_json(payload)`.

#[path = "shared/messages.rs"]
mod messages;

use experimance::codegen::{python, Contract};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let contract = Contract::new()
        .with::<messages::SpaceTimeUpdate>()
        .with::<messages::RenderRequest>()
        .with::<messages::ImageReady>()
        .with::<messages::DisplayMedia>();
    let schema = contract.json_schema();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("messages.schema.json"),
        serde_json::to_string_pretty(&schema)?,
    )?;
    std::fs::write(dir.join("messages.py"), python(&schema)?)?;
    println!(
        "wrote {} and {} ({})",
        dir.join("messages.schema.json").display(),
        dir.join("messages.py").display(),
        contract.wire_types().join(", ")
    );
    Ok(())
}
