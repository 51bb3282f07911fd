//! `keygen NAME`: a CURVE key pair in two certificate files, in the format pyzmq's
//! `zmq.auth.create_certificates` writes (and reads with `zmq.auth.load_certificate`):
//! `NAME.key` holds the public key, to hand out; `NAME.key_secret` both keys, created
//! readable and writable by its owner only.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use experimance_runtime::curve::certificate;
use experimance_runtime::Curve;

use crate::cli::KeygenArgs;
use crate::ctx::{Ctx, Out};
use crate::error::{CliError, Result};

/// Runs `keygen`.
pub fn run(ctx: &Ctx, args: KeygenArgs) -> Result<()> {
    let name = &args.name;
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(CliError::usage(format!(
            "`{name}` is not a key name: a file name without a path (e.g. the service's name)"
        )));
    }
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| CliError::usage(format!("cannot create `{}`: {e}", args.dir.display())))?;
    let keys = Curve::generate()
        .map_err(|e| CliError::runtime(format!("cannot generate a key pair: {e}")))?;
    let public = args.dir.join(format!("{name}.key"));
    let secret = args.dir.join(format!("{name}.key_secret"));
    if !args.force {
        for path in [&public, &secret] {
            if path.exists() {
                return Err(CliError::usage(format!(
                    "`{}` exists; --force replaces it (the services that use it need the new keys)",
                    path.display()
                )));
            }
        }
    }
    let by = "experimance keygen";
    // The secret first: a public key file without its secret would be of no use.
    write(
        &secret,
        &certificate(keys.public_key(), Some(keys.secret_key()), by),
        0o600,
    )?;
    write(&public, &certificate(keys.public_key(), None, by), 0o644)?;
    ctx.info(format!(
        "keygen: wrote `{}` (hand it out) and `{}` (keep it: owner only)",
        public.display(),
        secret.display()
    ));
    // The public key, for `curve_server_key` or `curve_allow` elsewhere.
    Out::stdout().line(&keys.public_key().to_z85())
}

/// Writes `text` into `path` with `mode` (replacing a file there, whose mode is reset).
fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    let failed =
        |e: std::io::Error| CliError::runtime(format!("cannot write `{}`: {e}", path.display()));
    let _ = std::fs::remove_file(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(failed)?;
    // Exactly `mode`, whatever the umask.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)
}
