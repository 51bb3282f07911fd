//! One contract for both languages, Rust → Python (issue 12; needs the `schemars` feature:
//! `cargo test --features schemars --test contract`). The example installation's messages
//! (`examples/shared/messages.rs`) give a JSON Schema and a pydantic module; a Rust service
//! publishes each message over a real socket, and real Python with pydantic validates every
//! frame against the generated module, refuses a wrong one, and reads each back to the same
//! JSON.
#![cfg(feature = "schemars")]

mod common;
#[path = "../examples/shared/messages.rs"]
mod messages;
#[path = "common/python.rs"]
mod python;

use std::collections::BTreeMap;

use common::{Raw, ANY_PORT};
use experimance::codegen::{python as pydantic_module, Contract};
use experimance::{handlers, service, Context, Role, Runner};

fn contract() -> Contract {
    Contract::new()
        .with::<messages::SpaceTimeUpdate>()
        .with::<messages::RenderRequest>()
        .with::<messages::ImageReady>()
        .with::<messages::DisplayMedia>()
}

/// Publishes every sample message every 10 ms (a subscriber that joins late gets the next).
#[service(pub = "tcp://127.0.0.1:1", stats_interval = "off")]
struct Installation;

#[handlers]
impl Installation {
    #[every("10ms")]
    async fn tick(&mut self, ctx: &Context<Self>) -> Result<(), experimance::Error> {
        let (update, request, ready, media) = messages::samples();
        ctx.publish(&update).await?;
        ctx.publish(&request).await?;
        ctx.publish(&ready).await?;
        for m in &media {
            ctx.publish(m).await?;
        }
        Ok(())
    }
}

const VALIDATE: &str = r#"
import json, sys
import pydantic
import messages

adapter = pydantic.TypeAdapter(messages.Messages)
for line in sys.stdin:
    topic, payload = line.rstrip("\n").split(" ", 1)
    message = adapter.validate_json(payload)
    assert type(message).__name__ == topic, (topic, type(message).__name__)
    again = json.loads(message.model_dump_json(by_alias=True))
    assert again == json.loads(payload), (again, payload)
    print(topic)
try:
    adapter.validate_json('{"type": "RenderRequest", "prompt": 3}')
except pydantic.ValidationError as e:
    print("refused", e.error_count())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_validates_what_a_rust_service_publishes() {
    let schema = contract().json_schema();
    assert_eq!(
        contract().wire_types(),
        [
            "DisplayMedia",
            "ImageReady",
            "RenderRequest",
            "SpaceTimeUpdate"
        ]
    );
    let dir = python::scratch("contract");
    std::fs::write(dir.join("messages.py"), pydantic_module(&schema).unwrap()).unwrap();
    std::fs::write(
        dir.join("messages.schema.json"),
        serde_json::to_string_pretty(&schema).unwrap(),
    )
    .unwrap();

    let runner = Runner::new(Installation).with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    let topics = [
        "SpaceTimeUpdate",
        "RenderRequest",
        "ImageReady",
        "DisplayMedia",
    ];
    let mut sub = Raw::sub(&runner.endpoint(Role::Pub).unwrap(), &topics);
    // Every distinct frame, until each of the five samples has been seen.
    let mut frames = BTreeMap::new();
    while frames.len() < 5 {
        let frame = String::from_utf8(sub.recv().await).expect("UTF-8");
        frames.insert(frame.clone(), ());
    }
    runner.stop().await;
    let lines: String = frames.keys().map(|f| format!("{f}\n")).collect();

    let out = python::run(&dir, VALIDATE, &[], &lines);
    let mut seen: Vec<&str> = out.lines().collect();
    // A wrong `prompt` and three missing fields.
    assert_eq!(seen.pop(), Some("refused 4"), "{out}");
    seen.sort();
    assert_eq!(
        seen,
        [
            "DisplayMedia",
            "DisplayMedia",
            "ImageReady",
            "RenderRequest",
            "SpaceTimeUpdate"
        ],
        "{out}"
    );
}
