//! `experimance keygen`: a CURVE key pair in the certificate format pyzmq reads (checked with
//! the real pyzmq: `zmq.auth.load_certificate`), the secret readable by its owner only, and
//! never an existing file overwritten by accident.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("experimance_keygen_{}_{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// What pyzmq reads from a certificate: `public secret` (`None` for a missing one).
fn pyzmq_loads(path: &std::path::Path) -> String {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = Command::new(&python)
        .args([
            "-c",
            "import sys, zmq.auth\n\
             public, secret = zmq.auth.load_certificate(sys.argv[1])\n\
             print(public.decode(), secret.decode() if secret else None)",
        ])
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {python}: {e}; this test needs Python 3 with pyzmq (`.ci/run` installs it)")
        });
    assert!(
        output.status.success(),
        "pyzmq could not load {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn keygen_writes_certificates_pyzmq_reads() {
    let dir = scratch("pair");
    let assert = run(&["keygen", "display", "--dir", dir.to_str().unwrap()], "");
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert.success();
    let public = stdout.trim();
    assert_eq!(public.len(), 40, "{stdout}");

    let secret_file = dir.join("display.key_secret");
    let public_file = dir.join("display.key");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&secret_file), 0o600);
    assert_eq!(mode(&public_file), 0o644);

    let (from_secret, from_public) = (pyzmq_loads(&secret_file), pyzmq_loads(&public_file));
    let (p, secret) = from_secret.split_once(' ').unwrap();
    assert_eq!(p, public);
    assert_eq!(secret.len(), 40);
    assert_eq!(from_public, format!("{public} None"));
    assert!(!std::fs::read_to_string(&public_file)
        .unwrap()
        .contains(secret));

    // Never overwritten by accident; replaced with --force (a new pair).
    let assert = run(&["keygen", "display", "--dir", dir.to_str().unwrap()], "");
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert.code(2);
    assert!(stderr.contains("--force"), "{stderr}");
    let assert = run(
        &[
            "keygen",
            "display",
            "--dir",
            dir.to_str().unwrap(),
            "--force",
        ],
        "",
    );
    let again = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert.success();
    assert_ne!(again.trim(), public);
    assert_eq!(mode(&secret_file), 0o600);

    // A name with a path in it is refused.
    run(&["keygen", "../x", "--dir", dir.to_str().unwrap()], "").code(2);
}
