//! The dashboard's page in a real browser: headless Chromium (`.ci/run` installs it from the
//! distribution's packages; `$CHROMIUM` names another binary), driven through its DevTools
//! protocol. The page must show the `installation` example's services and edges from the
//! event stream, show a topic's last message and a service's details on a click, put a
//! peer's markup-looking name in as text only, and it is photographed into
//! `<target>/tmp/dashboard.png`.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::installation::*;
use common::*;
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// How long the page may take to show what the API already shows.
const RENDER: Duration = Duration::from_secs(20);

/// A service name that would be markup if the page put names in as HTML.
const MARKUP_NAME: &str = "<b id=\"injected\">bold</b>";

/// A headless Chromium on a page, killed when dropped.
struct Browser {
    child: Child,
    socket: WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    next_id: u64,
    _profile: TempDir,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chromium() -> String {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return path;
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return name.to_owned();
        }
    }
    panic!(
        "no Chromium: the browser test needs one (`.ci/run` installs it: `apt-get install \
         chromium`; or set CHROMIUM to a Chromium or Chrome binary)"
    );
}

impl Browser {
    /// Opens `url` in a new headless Chromium and attaches to its page.
    fn open(url: &str) -> Browser {
        let profile = TempDir(
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("chromium-profile-{}", std::process::id())),
        );
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--window-size=1400,1000",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.0.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start Chromium");
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if let Some(at) = line.find("ws://") {
                    let _ = tx.send(line[at..].trim().to_owned());
                }
            }
        });
        let browser_ws = rx
            .recv_timeout(RENDER)
            .expect("Chromium prints its DevTools address");
        let port = browser_ws
            .trim_start_matches("ws://127.0.0.1:")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        // The page's own endpoint, from the target list.
        let deadline = Instant::now() + RENDER;
        let page_ws = loop {
            let mut response = agent()
                .get(&format!("http://127.0.0.1:{port}/json/list"))
                .call()
                .expect("the DevTools target list");
            let targets: Value =
                serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
            let page = targets.as_array().and_then(|targets| {
                targets.iter().find(|t| {
                    t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with(url))
                })
            });
            if let Some(ws) = page.and_then(|p| p["webSocketDebuggerUrl"].as_str()) {
                break ws.to_owned();
            }
            assert!(Instant::now() < deadline, "no page target: {targets:#}");
            std::thread::sleep(Duration::from_millis(50));
        };
        let (socket, _) = tungstenite::connect(page_ws.as_str()).expect("attach to the page");
        if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream.set_read_timeout(Some(RENDER)).unwrap();
        }
        Browser {
            child,
            socket,
            next_id: 1,
            _profile: profile,
        }
    }

    /// Calls a DevTools method and returns its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(Message::text(request.to_string()))
            .expect("send to Chromium");
        loop {
            let message = self.socket.read().expect("an answer from Chromium");
            let Message::Text(text) = message else {
                continue;
            };
            let answer: Value = serde_json::from_str(text.as_str()).unwrap();
            if answer["id"] == id {
                assert!(answer["error"].is_null(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page; its value (which must be JSON).
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` until `done` holds for its value; fails after [`RENDER`].
    fn until(&mut self, what: &str, expression: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + RENDER;
        loop {
            let value = self.eval(expression);
            if done(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "the page never showed {what}: {value:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the page's graph shows: its nodes (name, liveness), its edges, the connection state.
const GRAPH: &str = r#"({
  nodes: [...document.querySelectorAll('#graph .node')].map(n => [n.dataset.name, n.dataset.liveness]),
  edges: [...document.querySelectorAll('#graph .edge')].map(e => `${e.dataset.from} -${e.dataset.kind}-> ${e.dataset.to}`).sort(),
  connection: document.getElementById('connection')?.textContent,
  injected: document.getElementById('injected') !== null,
})"#;

#[test]
fn the_page_shows_the_graph_and_last_messages() {
    let installation = Installation::start();
    // A peer whose name looks like markup.
    let ctx = zmq::Context::new();
    let (xpub, peer) = bound(&ctx, zmq::XPUB);
    let mut addrs = installation.addrs.clone();
    addrs.push(peer);
    // The markup peer sends one heartbeat: with a long interval it stays alive throughout.
    let dashboard = Dashboard::start(&addrs, &["--interval", "60m"]);
    await_subscription(&xpub);
    let heartbeat =
        json!({"type": "Heartbeat", "timestamp": 1.0, "service": MARKUP_NAME, "state": "running"});
    xpub.send(format!("heartbeat {heartbeat}").as_bytes(), 0)
        .unwrap();
    dashboard
        .events()
        .until("the installation, alive", RENDER, |s| {
            all(s, "alive") && edges(s) == EDGES && service(s, MARKUP_NAME).is_some()
        });

    let mut browser = Browser::open(&format!("{}/", dashboard.base));
    let shown = browser.until("every service and edge", GRAPH, |v| {
        let nodes = v["nodes"].as_array().map_or(0, Vec::len);
        nodes == 5 && v["edges"] == json!(EDGES)
    });
    assert_eq!(shown["connection"], "live");
    let mut nodes: Vec<String> = shown["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| format!("{} {}", n[0].as_str().unwrap(), n[1].as_str().unwrap()))
        .collect();
    nodes.sort();
    assert_eq!(
        nodes,
        [
            format!("{MARKUP_NAME} alive"),
            "audio alive".into(),
            "core alive".into(),
            "display alive".into(),
            "image_server alive".into(),
        ]
    );
    assert_eq!(
        shown["injected"], false,
        "a peer's name was put in as markup"
    );

    // A click on a topic shows its last message, pretty-printed.
    browser.eval(
        r#"[...document.querySelectorAll('#topics tbody tr')]
             .find(r => r.cells[0].textContent === 'ImageReady').click()"#,
    );
    let detail = browser.until(
        "the last ImageReady",
        "document.getElementById('detail')?.textContent",
        |v| {
            v.as_str()
                .is_some_and(|t| t.contains("\"type\": \"ImageReady\""))
        },
    );
    assert!(
        detail.as_str().unwrap().contains("\n  \"width\": 1920"),
        "{detail}"
    );
    // A click on a node shows the service.
    browser.eval(
        r#"document.querySelector('#graph .node[data-name="core"]')
             .dispatchEvent(new MouseEvent('click', {bubbles: true}))"#,
    );
    browser.until(
        "the core's details",
        "document.getElementById('detail')?.textContent",
        |v| {
            v.as_str()
                .is_some_and(|t| t.contains("\"service_type\": \"core\""))
        },
    );

    let shot = browser.call("Page.captureScreenshot", json!({ "format": "png" }));
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 10_000, "a suspiciously small screenshot");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());

    drop(browser);
    let finished = dashboard.stop();
    assert!(finished.status.success(), "{finished:?}");
}
