use experimance::{handlers, service};

// A secret key written out in the source is refused; a key file is not.
#[service(
    pub = "tcp://*:5555",
    curve_secret_key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
    curve_server_key = "keys/server.key"
)]
struct Core;

#[handlers]
impl Core {}

fn main() {}
