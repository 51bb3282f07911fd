use experimance::message;
use serde::{Deserialize, Serialize};

// `#[message]` goes above the derive: below it, the derive has already run without the
// `"type"`, and the derives `#[message]` adds conflict with it (rather than the struct being
// written without its type).
#[derive(Serialize, Deserialize)]
#[message]
struct Below {
    x: u32,
}

fn main() {}
