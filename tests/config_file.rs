//! Configuration files: `EXPERIMANCE_CONFIG` names a TOML file whose section for a service
//! overrides its attribute; a bad file stops the start with an error naming file and key.

use experimance::{handlers, service, Config, Error, Role, Runner, State};

#[service(
    name = "Configured",
    pub = "ipc:///nonexistent-directory/configured.sock",
    stats_interval = "10s"
)]
struct Configured;

#[handlers]
impl Configured {}

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("experimance-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("config file");
    path
}

// One test, because it sets a process-wide environment variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_overrides_the_attribute_and_a_bad_file_is_a_clear_error() {
    // The attribute's address cannot be bound; the file's can.
    let good = write(
        "good.toml",
        "[services.Configured]\npub = \"tcp://127.0.0.1:*\"\nheartbeat_interval = \"1h\"\n",
    );
    std::env::set_var("EXPERIMANCE_CONFIG", &good);
    let runner = Runner::new(Configured);
    runner.start().await.expect("the file's address binds");
    let endpoint = runner.endpoint(Role::Pub).expect("bound");
    assert!(endpoint.starts_with("tcp://127.0.0.1:"), "{endpoint}");
    assert_eq!(runner.describe().unwrap().heartbeat_interval, Some(3600.0));
    runner.stop().await;

    let bad = write("bad.toml", "[services.Configured]\nhwm = \"lots\"\n");
    std::env::set_var("EXPERIMANCE_CONFIG", &bad);
    let runner = Runner::new(Configured);
    let error = runner
        .start()
        .await
        .expect_err("a bad file stops the start");
    let text = error.to_string();
    assert!(matches!(error, Error::ConfigFile { .. }), "{error:?}");
    assert!(text.contains("bad.toml") && text.contains("hwm"), "{text}");
    assert_eq!(runner.state(), State::Stopped);

    // A file given by the program wins over the variable.
    let runner = Runner::new(Configured).with_config(Config::load(&good).expect("good file"));
    runner.start().await.expect("start");
    runner.stop().await;
    std::env::remove_var("EXPERIMANCE_CONFIG");
}
