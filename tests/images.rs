//! Images between services (issue 15): an image server that sends small images inline and
//! large ones as `file://` URIs to peers on this host, a Rust display and the real Python
//! (pyzmq, pydantic, and the Python services' way of reading an image source) receiving
//! them, a Python sender of both forms, and the temporary files gone afterwards.

mod common;
#[path = "common/python.rs"]
mod python;

use std::path::{Path, PathBuf};
use std::time::Duration;

use experimance::image::{ImageSender, ImageSource, FILE_PREFIX};
use experimance::{handlers, message, service, Context, Role, Runner};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use common::child::Kid;

const SAFETY: Duration = Duration::from_secs(20);
/// The sizes the image server sends in turn: one inline, one as a file.
const SMALL: usize = 1000;
const LARGE: usize = 300 * 1024;

/// The Python services' `DisplayMedia`: its image source's fields at the top level.
#[message]
#[derive(Debug, Serialize, Deserialize)]
struct DisplayMedia {
    content_type: String,
    request_id: Option<String>,
    #[serde(flatten)]
    image: ImageSource,
}

/// The test image of `len` bytes (the Python scripts make the same).
fn image(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Python's version of [`image`].
const PY_IMAGE: &str =
    "def image(n):\n    return bytes((i * 7 + i // 251) % 256 for i in range(n))\n";

/// Sends a small and a large image in turn every 20 ms.
#[service(
    name = "ImageServer",
    pub = "tcp://127.0.0.1:*",
    stats_interval = "off"
)]
struct ImageServer {
    images: ImageSender,
    sent: usize,
}

#[handlers]
impl ImageServer {
    #[every("20ms")]
    async fn send(&mut self, ctx: &Context<Self>) -> Result<(), String> {
        let size = if self.sent % 2 == 0 { SMALL } else { LARGE };
        self.sent += 1;
        let same_host = ctx.same_host(Role::Pub).await;
        let image = self
            .images
            .source(&image(size), "png", same_host)
            .map_err(|e| e.to_string())?;
        let media = DisplayMedia {
            content_type: "image".to_owned(),
            request_id: Some(size.to_string()),
            image,
        };
        ctx.publish(&media).await.map_err(|e| e.to_string())
    }

    /// The files go with the service (dropping the sender would delete them too, but a
    /// stopped service lives on in its runner).
    #[on_stop]
    async fn stopping(&mut self) {
        self.images.clear();
    }
}

/// Loads every image it is sent and reports its form, its size, and whether it is right.
#[service(
    name = "Display",
    sub = "tcp://127.0.0.1:1",
    pull = "tcp://127.0.0.1:1",
    topics = ["DisplayMedia"],
    stats_interval = "off"
)]
struct Display {
    tx: mpsc::UnboundedSender<(&'static str, usize, bool)>,
}

impl Display {
    fn show(&mut self, media: DisplayMedia) -> Result<(), String> {
        let form = if media.image.uri.is_some() {
            "file"
        } else {
            "data"
        };
        let bytes = media.image.load().map_err(|e| e.to_string())?;
        let right = bytes == image(bytes.len());
        let _ = self.tx.send((form, bytes.len(), right));
        Ok(())
    }
}

#[handlers]
impl Display {
    #[topic]
    async fn published(&mut self, media: DisplayMedia) -> Result<(), String> {
        self.show(media)
    }

    #[task]
    async fn pushed(&mut self, media: DisplayMedia) -> Result<(), String> {
        self.show(media)
    }
}

/// The image server's temporary files in `dir`.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(FILE_PREFIX))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_server_sends_inline_and_file_images_to_rust_and_python() {
    let dir = python::scratch("images-server");
    let server = Runner::new(ImageServer {
        images: ImageSender::new().with_dir(&dir).with_inline_max(64 * 1024),
        sent: 0,
    })
    .with_address(Role::Pub, "tcp://127.0.0.1:*");
    server.start().await.expect("the image server starts");
    let endpoint = server.endpoint(Role::Pub).unwrap();

    // A Rust display.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let display = Runner::new(Display { tx })
        .with_address(Role::Sub, endpoint.clone())
        .with_address(Role::Pull, ">tcp://127.0.0.1:1");
    display.start().await.expect("the display starts");
    let mut forms = Vec::new();
    while forms.len() < 2 {
        let (form, len, right) = tokio::time::timeout(SAFETY, rx.recv())
            .await
            .expect("an image in time")
            .expect("the display runs");
        assert!(
            right,
            "the {form} image of {len} bytes is not what was sent"
        );
        if !forms.contains(&(form, len)) {
            forms.push((form, len));
        }
    }
    forms.sort();
    assert_eq!(forms, [("data", SMALL), ("file", LARGE)]);
    assert_eq!(display.stats().errors, 0);

    // Python, with pydantic models of the Python services' `ImageSource` and `DisplayMedia`,
    // reading them as the Python services do: the file of `uri` if it exists, else the
    // base64 after the data URL's comma.
    let script = format!(
        r#"
import base64, os, sys, zmq
from typing import Optional
from pydantic import BaseModel
{PY_IMAGE}
class ImageSource(BaseModel):
    image_data: Optional[str] = None
    uri: Optional[str] = None

class DisplayMedia(ImageSource):
    type: str = "DisplayMedia"
    content_type: str
    request_id: Optional[str] = None

def load(media):
    if media.uri and media.uri.startswith("file://"):
        path = media.uri[len("file://"):]
        if os.path.exists(path):
            with open(path, "rb") as f:
                return "file", f.read()
    if media.image_data and media.image_data.startswith("data:image/"):
        return "data", base64.b64decode(media.image_data.split(",", 1)[1])
    raise SystemExit("no image in " + repr(media)[:200])

sub = zmq.Context.instance().socket(zmq.SUB)
sub.rcvtimeo = int(sys.argv[2])
sub.subscribe(b"DisplayMedia")
sub.connect(sys.argv[1])
seen = {{}}
while len(seen) < 2:
    topic, payload = sub.recv().split(b" ", 1)
    media = DisplayMedia.model_validate_json(payload)
    form, data = load(media)
    seen[form] = (media.request_id, len(data), data == image(len(data)))
for form in sorted(seen):
    print(form, *seen[form])
"#
    );
    let millis = SAFETY.as_millis().to_string();
    let python_dir = dir.clone();
    let printed = tokio::task::spawn_blocking(move || {
        python::run(&python_dir, &script, &[&endpoint, &millis], "")
    })
    .await
    .unwrap();
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [
            format!("data {SMALL} {SMALL} True"),
            format!("file {LARGE} {LARGE} True")
        ]
    );

    // The server's files are there while it runs, and gone once it stopped.
    display.stop().await;
    assert!(!files_in(&dir).is_empty());
    server.stop().await;
    assert_eq!(server.stats().errors, 0);
    assert_eq!(files_in(&dir), Vec::<PathBuf>::new());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_display_reads_the_images_a_python_sender_pushes() {
    let dir = python::scratch("images-python");
    // As the Python services send them: a data URL, and a URI to a temporary file named with
    // their prefix.
    let script = format!(
        r#"
import base64, json, sys, tempfile, zmq
{PY_IMAGE}
push = zmq.Context.instance().socket(zmq.PUSH)
push.sndtimeo = int(sys.argv[1])
port = push.bind_to_random_port("tcp://127.0.0.1")
print("PORT", port, flush=True)
small = "data:image/png;base64," + base64.b64encode(image({SMALL})).decode()
push.send_json({{"type": "DisplayMedia", "content_type": "image", "image_data": small}})
with tempfile.NamedTemporaryFile(prefix="{FILE_PREFIX}", suffix=".png", delete=False, dir=".") as f:
    f.write(image({LARGE}))
    path = f.name
push.send_json({{"type": "DisplayMedia", "content_type": "image", "uri": "file://" + path, "image_data": None}})
sys.stdin.read()
"#
    );
    let timeout = SAFETY.as_millis().to_string();
    let mut python = Kid::start(python::command(&dir, &script, &[&timeout]), python::PEER);
    let port = python.line("PORT").await;
    assert!(port.parse::<u16>().is_ok(), "pyzmq said {port:?}");

    let (tx, mut rx) = mpsc::unbounded_channel();
    let display = Runner::new(Display { tx })
        .with_address(Role::Sub, ">tcp://127.0.0.1:1")
        .with_address(Role::Pull, format!("tcp://127.0.0.1:{port}"));
    display.start().await.expect("the display starts");
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(
            tokio::time::timeout(SAFETY, rx.recv())
                .await
                .expect("an image from Python in time")
                .expect("the display runs"),
        );
    }
    assert_eq!(got, [("data", SMALL, true), ("file", LARGE, true)]);
    assert_eq!(display.stats().errors, 0);
    display.stop().await;
    python.close_stdin();
    let (status, printed) = python.wait().await;
    assert!(status.success(), "Python: {status}, {printed:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Records what `Context::same_host` says of its sockets at start.
#[service(name = "Judge", pub = "tcp://127.0.0.1:*", stats_interval = "off")]
struct Judge {
    said: Option<(bool, bool)>,
}

#[handlers]
impl Judge {
    #[on_start]
    async fn judge(&mut self, ctx: &Context<Self>) {
        self.said = Some((
            ctx.same_host(Role::Pub).await,
            ctx.same_host(Role::Sub).await,
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_host_follows_the_addresses_of_the_run() {
    // Bound to loopback: every peer is on this host. No SUB socket: no peer at all.
    let judge = Runner::new(Judge { said: None });
    judge.start().await.expect("start");
    judge.stop().await;
    assert_eq!(judge.with_service(|j| j.said), Some(Some((true, false))));
    // Bound to every interface: peers may be anywhere, so images go inline.
    let judge = Runner::new(Judge { said: None }).with_address(Role::Pub, "tcp://*:*");
    judge.start().await.expect("start");
    judge.stop().await;
    assert_eq!(judge.with_service(|j| j.said), Some(Some((false, false))));
    // Connecting to this machine's loopback.
    let judge = Runner::new(Judge { said: None }).with_address(Role::Pub, ">tcp://localhost:1");
    judge.start().await.expect("start");
    judge.stop().await;
    assert_eq!(judge.with_service(|j| j.said), Some(Some((true, false))));
}
