//! One contract for both languages, Python → Rust (issue 12). `tests/contract/` holds the
//! JSON Schema that pydantic's `models_json_schema` writes for message models in the style of
//! the current Python services (`python_models.py`: enums in snake case, `Optional[int] =
//! 1024`, `tuple[int, int] | str`, a field named `loop`, a nested optional object), and one
//! message of each as pydantic sends them. `python_messages.rs` is what `experimance codegen
//! rust` (typify) generates from the schema (the CLI's tests check that it still does); each
//! message decodes into those types and into the example installation's hand-written
//! `#[message]` types, and what Rust writes back is the same message to pydantic.

#[path = "../examples/shared/messages.rs"]
mod messages;
#[path = "common/python.rs"]
mod python;

use std::path::Path;

use serde_json::Value;

/// The Rust types `experimance codegen rust` generated from the checked-in schema.
#[rustfmt::skip]
#[allow(clippy::all, dead_code)]
#[path = "contract/python_messages.rs"]
mod generated;

const SAMPLES: &str = include_str!("contract/python_messages.jsonl");

fn contract_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/contract"))
}

/// Decodes `line` into the type of module `$types` that its `"type"` names, and writes it
/// back.
macro_rules! through {
    ($types:ident) => {
        |line: &str| -> String {
            fn again<T: serde::de::DeserializeOwned + serde::Serialize>(line: &str) -> String {
                serde_json::to_string(&serde_json::from_str::<T>(line).unwrap()).unwrap()
            }
            let kind = serde_json::from_str::<Value>(line).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned();
            match kind.as_str() {
                "SpaceTimeUpdate" => again::<$types::SpaceTimeUpdate>(line),
                "RenderRequest" => again::<$types::RenderRequest>(line),
                "ImageReady" => again::<$types::ImageReady>(line),
                "DisplayMedia" => again::<$types::DisplayMedia>(line),
                other => panic!("unexpected type {other}"),
            }
        }
    };
}

/// Reads pairs of lines (what Python sent, what Rust wrote back) and checks that pydantic
/// reads both as the same message.
const SAME_TO_PYDANTIC: &str = r#"
import sys
from pydantic import TypeAdapter
from typing import Annotated, Union
from pydantic import Field
import python_models as m

adapter = TypeAdapter(Annotated[Union[tuple(m.MODELS)], Field(discriminator="type")])
lines = sys.stdin.read().splitlines()
for sent, back in zip(lines[0::2], lines[1::2]):
    a, b = adapter.validate_json(sent), adapter.validate_json(back)
    assert a == b, (sent, back)
    print(type(a).__name__)
"#;

#[test]
fn rust_reads_what_python_sends_and_python_reads_it_back() {
    let samples: Vec<&str> = SAMPLES.lines().collect();
    assert_eq!(samples.len(), 5);
    // Through typify's types, and through the example installation's `#[message]` types.
    for (name, through) in [
        ("generated", through!(generated) as fn(&str) -> String),
        ("declared", through!(messages)),
    ] {
        let pairs: String = samples
            .iter()
            .map(|line| format!("{line}\n{}\n", through(line)))
            .collect();
        let out = python::run(contract_dir(), SAME_TO_PYDANTIC, &[], &pairs);
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            [
                "SpaceTimeUpdate",
                "RenderRequest",
                "ImageReady",
                "DisplayMedia",
                "DisplayMedia"
            ],
            "through the {name} types"
        );
    }
}

#[test]
fn the_generated_types_have_the_python_shapes() {
    use generated::*;
    let media: DisplayMedia = serde_json::from_str(SAMPLES.lines().nth(3).unwrap()).unwrap();
    // `loop` is a keyword in Rust: typify renames the field and keeps the wire name.
    assert!(media.loop_);
    assert!(matches!(media.content_type, ContentType::Image));
    let request: RenderRequest = serde_json::from_str(SAMPLES.lines().nth(1).unwrap()).unwrap();
    assert_eq!(request.width, Some(1024));
    assert!(matches!(request.era, Era::AiFuture));
}

/// The checked-in schema is what pydantic writes for the checked-in models today.
#[test]
fn the_checked_in_schema_is_what_pydantic_writes() {
    let written = python::run(
        contract_dir(),
        "import runpy, sys; sys.argv = ['python_models.py', 'schema']; runpy.run_path('python_models.py', run_name='__main__')",
        &[],
        "",
    );
    let checked_in = std::fs::read_to_string(contract_dir().join("python_messages.schema.json"))
        .expect("the checked-in schema");
    assert_eq!(
        serde_json::from_str::<Value>(&written).unwrap(),
        serde_json::from_str::<Value>(&checked_in).unwrap(),
        "regenerate with `python3 python_models.py schema > python_messages.schema.json` in tests/contract"
    );
    let samples = python::run(
        contract_dir(),
        "import runpy, sys; sys.argv = ['python_models.py', 'samples']; runpy.run_path('python_models.py', run_name='__main__')",
        &[],
        "",
    );
    assert_eq!(
        samples, SAMPLES,
        "regenerate with `python3 python_models.py samples > python_messages.jsonl` in tests/contract"
    );
}
