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

/// Schemas that trip a naive generator: an alias of classes defined after it (alphabetically),
/// an alias of an alias, field names Python keeps private or cannot spell, enum values that
/// collide once spelled as names, a definition named like an import, a single model.
#[test]
fn python_for_awkward_schemas_imports_and_validates() {
    let schema = serde_json::json!({
        "$defs": {
            "Batch": {"type": "array", "items": {"$ref": "#/$defs/Media"}},
            "Field": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
            "Media": {"anyOf": [{"$ref": "#/$defs/Video"}, {"$ref": "#/$defs/ZImage"}]},
            "Quality": {"type": "string", "enum": ["low-res", "low_res", "Image", "image"]},
            "Video": {"type": "object", "properties": {"_id": {"type": "string"}, "3d": {"type": "boolean"},
                      "quality": {"$ref": "#/$defs/Quality"}}, "required": ["_id", "3d", "quality"]},
            "ZImage": {"type": "object", "properties": {"uri": {"type": "string"}}, "required": ["uri"]},
            "Show": {"type": "object", "properties": {
                "type": {"const": "Show", "type": "string"},
                "batch": {"$ref": "#/$defs/Batch"}, "field": {"$ref": "#/$defs/Field"}},
                "required": ["type", "batch", "field"]}
        },
        "anyOf": [{"$ref": "#/$defs/Show"}]
    });
    let path = scratch("awkward.schema.json");
    std::fs::write(&path, schema.to_string()).unwrap();
    let module = scratch("awkward.py");
    bin()
        .args(["codegen", "python", path.to_str().unwrap(), "-o"])
        .arg(&module)
        .assert()
        .success();
    let out = python(
        module.parent().unwrap(),
        r#"
import json
import awkward as m
data = {"type": "Show", "field": {"x": 1},
        "batch": [{"_id": "v", "3d": True, "quality": "low_res"}, {"uri": "file:///a"}]}
show = m.Show.model_validate(data)
assert json.loads(show.model_dump_json(by_alias=True)) == data, show
assert [q.value for q in m.Quality] == ["low-res", "low_res", "Image", "image"]
print("ok")
"#,
    );
    assert_eq!(out.trim(), "ok");

    // pydantic's schema of one model: the root is the model.
    let single = serde_json::json!({
        "title": "Ping", "type": "object",
        "properties": {"type": {"const": "Ping", "type": "string"}, "n": {"type": "integer", "default": 0}}
    });
    let path = scratch("single.schema.json");
    std::fs::write(&path, single.to_string()).unwrap();
    let assert = bin()
        .args(["codegen", "python", path.to_str().unwrap()])
        .assert()
        .success();
    let module = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(module.contains("class Ping(BaseModel):"), "{module}");
    assert!(module.contains("Messages = Ping"), "{module}");
}
