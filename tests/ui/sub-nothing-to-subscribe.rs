use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555")]
struct Display;

#[handlers]
impl Display {
    #[every("1s")]
    async fn tick(&mut self) {}
}

fn main() {}
