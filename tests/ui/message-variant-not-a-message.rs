use experimance::message;

// Each variant holds a #[message] struct; `u32` is not one.
#[message]
enum Event {
    Count(u32),
}

fn main() {}
