//! `codegen` (issue 12): Rust types from the JSON Schema pydantic writes (the checked-in
//! `tests/contract/python_messages.rs` of the facade crate is exactly what it generates, and
//! that crate's contract tests compile and use it), and pydantic models from a schema or from
//! service descriptions, imported and used by real Python.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::prelude::*;
use common::*;
use predicates::str::contains;

fn contract_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contract")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("experimance-cli-codegen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `script` with Python (pydantic installed by `.ci/run`) in `dir`; its stdout.
fn python(dir: &Path, script: &str) -> String {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = Command::new(&python)
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (needed with pydantic): {e}"));
    assert!(
        output.status.success(),
        "Python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn rust_from_pydantics_schema_is_the_checked_in_module() {
    let schema = contract_dir().join("python_messages.schema.json");
    let assert = bin()
        .args(["codegen", "rust", schema.to_str().unwrap()])
        .assert()
        .success();
    let generated = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let checked_in = std::fs::read_to_string(contract_dir().join("python_messages.rs")).unwrap();
    assert_eq!(
        generated, checked_in,
        "regenerate with `experimance codegen rust python_messages.schema.json -o python_messages.rs` in tests/contract"
    );
    for item in [
        "pub struct DisplayMedia",
        "pub enum Era",
        "#[serde(rename = \"loop\", default)]",
        "pub enum Size",
    ] {
        assert!(generated.contains(item), "{item}");
    }
}

#[test]
fn python_from_pydantics_schema_validates_pythons_own_messages() {
    let schema = contract_dir().join("python_messages.schema.json");
    let module = scratch("python_messages_again.py");
    bin()
        .args(["codegen", "python", schema.to_str().unwrap(), "-o"])
        .arg(&module)
        .assert()
        .success()
        .stderr(contains("codegen: wrote"));
    let samples = contract_dir().join("python_messages.jsonl");
    let out = python(
        module.parent().unwrap(),
        &format!(
            r#"
import json
import python_messages_again as m
for line in open({samples:?}):
    data = json.loads(line)
    model = getattr(m, data["type"])
    again = model.model_validate_json(line)
    assert json.loads(again.model_dump_json(by_alias=True)) == data, (again, data)
    print(data["type"])
"#
        ),
    );
    assert_eq!(out.lines().count(), 5, "{out}");
}

#[test]
fn python_from_descriptions_takes_the_handlers_schemas() {
    let description = serde_json::json!({
        "type": "ServiceDescription", "name": "ImageServer", "service_type": "worker",
        "sockets": [], "subscriptions": [], "publishes": [], "heartbeat_topic": null,
        "heartbeat_interval": null, "watch": [],
        "handlers": [{
            "kind": "task", "topic": null, "message_type": "RenderRequest",
            "wire_types": ["RenderRequest"],
            "schema": {"title": "RenderRequest", "type": "object",
                       "properties": {"prompt": {"type": "string"},
                                      "width": {"type": ["integer", "null"], "default": 1024}},
                       "required": ["prompt"]}
        }]
    });
    let path = scratch("image_server.json");
    std::fs::write(&path, description.to_string()).unwrap();
    let assert = bin()
        .args(["codegen", "python", path.to_str().unwrap()])
        .assert()
        .success();
    let module = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for line in [
        "class RenderRequest(BaseModel):",
        r#"    type: Literal["RenderRequest"] = "RenderRequest""#,
        "    prompt: str",
        "    width: Optional[int] = 1024",
        "Messages = RenderRequest",
    ] {
        assert!(module.lines().any(|l| l == line), "{line:?} in\n{module}");
    }
}

#[test]
fn codegen_refuses_what_is_not_a_schema_with_2() {
    let path = scratch("not-json.txt");
    std::fs::write(&path, "hello").unwrap();
    bin()
        .args(["codegen", "python", path.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(contains("not JSON"));
    let path = scratch("no-schemas.json");
    std::fs::write(
        &path,
        r#"{"type":"ServiceDescription","name":"A","service_type":"base","sockets":[],"subscriptions":[],"handlers":[],"publishes":[],"heartbeat_topic":null,"heartbeat_interval":null,"watch":[]}"#,
    )
    .unwrap();
    bin()
        .args(["codegen", "python", path.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(contains("schemars"));
}
