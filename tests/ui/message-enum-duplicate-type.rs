use experimance::message;
use serde::{Deserialize, Serialize};

#[message]
#[derive(Serialize, Deserialize)]
struct Cancel {
    id: u64,
}

// Two variants of one wire type: which would "Cancel" choose?
#[message]
enum Control {
    Stop(Cancel),
    Abort(Cancel),
}

fn main() {}
