use experimance::message;
use serde::{Deserialize, Serialize};

// A tuple struct: the Python models are JSON objects.
#[message]
#[derive(Serialize, Deserialize)]
struct Tuple(u32);

// A field that would write "type" itself.
#[message]
#[derive(Serialize, Deserialize)]
struct OwnType {
    r#type: String,
    #[serde(rename = "type")]
    kind: String,
}

// A tag of its own, and a serde rename instead of #[message("...")].
#[message]
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename = "Other")]
struct Tagged {
    x: u32,
}

// A wire type with a space.
#[message("Render Request")]
#[derive(Serialize, Deserialize)]
struct Spaced {
    x: u32,
}

// An enum that derives serde, and a variant that is not one struct.
#[message]
#[derive(Serialize, Deserialize)]
enum Derived {
    A(Spaced),
    B { x: u32 },
}

// An enum cannot be named: its types are its variants'.
#[message("Event")]
enum Named {
    A(Spaced),
}

// serde reads the struct without its "type", which this would refuse.
#[message]
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Strict {
    x: u32,
}

fn main() {}
