//! CURVE encryption (ZeroMQ RFC 26): keys and where they come from.
//!
//! A key is 32 bytes, written as 40 characters of Z85 text, as `zmq_curve_keypair` and
//! pyzmq write it. Every key setting takes either the key itself or the path of a file that
//! holds it: a file with the bare key, or a certificate as pyzmq's
//! `zmq.auth.create_certificates` and `experimance keygen` write them (`NAME.key` with the
//! `public-key`, `NAME.key_secret` with both). A secret certificate gives the public key too.
//! Z85 has `/`, `.` and `-`, so a path of exactly 40 characters can read as a key: when a
//! file of that name exists, the setting is an error; lengthen the path with a `./`.
//!
//! No key is ever printed by `Debug` (public keys included: they are redacted like the
//! secrets, so a log line can never show the wrong one).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::z85::{is_z85, looks_like_key};

/// The largest key file read.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// A CURVE key, public or secret.
///
/// ```
/// use experimance_runtime::CurveKey;
///
/// let key: CurveKey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7".parse().unwrap();
/// assert_eq!(key.to_z85(), "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
/// assert_eq!(format!("{key:?}"), "CurveKey(<redacted>)");
/// assert!("too short".parse::<CurveKey>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CurveKey([u8; 32]);

impl CurveKey {
    /// The key as 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as 40 characters of Z85 text.
    pub fn to_z85(&self) -> String {
        zmq::z85_encode(&self.0).expect("32 bytes are a multiple of 4")
    }

    /// The public key of this secret key (CURVE's keys are X25519's).
    pub fn public_of_secret(&self) -> CurveKey {
        let secret = x25519_dalek::StaticSecret::from(self.0);
        CurveKey(x25519_dalek::PublicKey::from(&secret).to_bytes())
    }
}

impl FromStr for CurveKey {
    type Err = String;

    fn from_str(text: &str) -> Result<CurveKey, String> {
        let text = text.trim();
        if !looks_like_key(text) {
            return Err("a CURVE key is 40 characters of Z85 text".to_owned());
        }
        let bytes = zmq::z85_decode(text).map_err(|_| "not Z85 text".to_owned())?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "a CURVE key is 32 bytes".to_owned())?;
        Ok(CurveKey(bytes))
    }
}

impl From<[u8; 32]> for CurveKey {
    fn from(bytes: [u8; 32]) -> CurveKey {
        CurveKey(bytes)
    }
}

impl fmt::Debug for CurveKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurveKey(<redacted>)")
    }
}

/// Which key of a certificate a setting wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Public,
    Secret,
}

impl Part {
    fn field(self) -> &'static str {
        match self {
            Part::Public => "public-key",
            Part::Secret => "secret-key",
        }
    }
}

/// The start of the error for a value that reads both as a key and as an existing path.
const AMBIGUOUS: &str = "reads both as a key (40 characters of Z85) and as the name of a file";

/// Reads a key setting: the key itself, or a key file. Text that is a key and names an
/// existing file too is an error, never read either way. Returns the key, and the public key
/// too when a secret certificate holds both. Errors never quote the value (it may be a
/// secret key with a typo).
pub(crate) fn load(value: &str, part: Part) -> Result<(CurveKey, Option<CurveKey>), String> {
    let value = value.trim();
    let path = Path::new(value);
    if looks_like_key(value) {
        // Z85 has `/`, `.` and `-`, so a path of 40 characters can read as a key. Reading
        // the file whenever one exists would let whoever can write the working directory
        // swap a server key given as text (which is public) for a file of their own.
        if path.symlink_metadata().is_ok() {
            return Err(format!(
                "{AMBIGUOUS} (a path of exactly 40 characters): to read \
                 the file, lengthen its path with a `./` (`./keys/...`, `/etc/./keys/...`)"
            ));
        }
        return Ok((value.parse()?, None));
    }
    // A secret key's value is never repeated (it could be a mistyped key), nor a value that
    // could be a mistyped public key.
    let shown = if part == Part::Secret || could_be_a_key(value) {
        "given (not shown: it could be a mistyped key)".to_owned()
    } else {
        format!("`{}`", path.display())
    };
    let text = read_small(path).map_err(|e| {
        format!("not a key (40 characters of Z85 text), and cannot read the key file {shown}: {e}")
    })?;
    let in_file = |message: String| format!("key file {shown}: {message}");
    match (
        field(&text, part.field()),
        field(&text, Part::Public.field()),
    ) {
        (Some(key), public) => {
            let key = key.parse().map_err(in_file)?;
            let public = match (part, public) {
                (Part::Secret, Some(public)) => Some(public.parse().map_err(in_file)?),
                _ => None,
            };
            Ok((key, public))
        }
        (None, _) => {
            let bare = text.trim();
            if looks_like_key(bare) {
                Ok((bare.parse().map_err(in_file)?, None))
            } else {
                Err(in_file(format!(
                    "no `{}` in it, and it is not a bare key (40 characters of Z85 text)",
                    part.field()
                )))
            }
        }
    }
}

/// Whether `text` is close enough to a key (Z85 characters only, about 40 of them) that an
/// error must not repeat it.
fn could_be_a_key(text: &str) -> bool {
    (30..=50).contains(&text.len()) && text.bytes().all(is_z85)
}

/// Reads at most [`MAX_KEY_FILE`] bytes of text.
fn read_small(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_KEY_FILE)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// The value of `name = "value"` (a ZPL certificate line; quotes optional).
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.trim().split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"'))
    })
}

/// A certificate in the format of pyzmq and czmq: the public one (to hand out) holds only
/// `public-key`; the secret one (to keep) both keys.
pub fn certificate(public: &CurveKey, secret: Option<&CurveKey>, generated_by: &str) -> String {
    let mut text = String::new();
    match secret {
        None => {
            text.push_str(&format!("#   ****  Generated by {generated_by}  ****\n"));
            text.push_str("#   ZeroMQ CURVE Public Certificate\n");
            text.push_str(
                "#   Exchange securely, or use a secure mechanism to verify the contents\n",
            );
            text.push_str("#   of this file after exchange.\n\n");
        }
        Some(_) => {
            text.push_str(&format!("#   ****  Generated by {generated_by}  ****\n"));
            text.push_str("#   ZeroMQ CURVE **Secret** Certificate\n");
            text.push_str(
                "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n",
            );
        }
    }
    text.push_str("metadata\ncurve\n");
    text.push_str(&format!("    public-key = \"{}\"\n", public.to_z85()));
    if let Some(secret) = secret {
        text.push_str(&format!("    secret-key = \"{}\"\n", secret.to_z85()));
    }
    text
}

/// A service's CURVE settings: its own key pair, the public key of the servers its
/// connecting sockets connect to, and the client keys its bound sockets accept.
///
/// ```
/// use experimance_runtime::{Curve, CurveKey};
///
/// let server = Curve::generate().unwrap();
/// let client = Curve::generate()
///     .unwrap()
///     .with_server_key(server.public_key().clone());
/// let server = server.with_allowed([client.public_key().clone()]);
/// assert!(!format!("{server:?}").contains(&server.public_key().to_z85()));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Curve {
    pub(crate) public: CurveKey,
    pub(crate) secret: CurveKey,
    pub(crate) server: Option<CurveKey>,
    pub(crate) allow: Vec<CurveKey>,
}

impl Curve {
    /// A service with this key pair. Its bound sockets accept every client that knows
    /// `public` (see [`with_allowed`](Curve::with_allowed)).
    pub fn new(public: CurveKey, secret: CurveKey) -> Curve {
        Curve {
            public,
            secret,
            server: None,
            allow: Vec::new(),
        }
    }

    /// A new random key pair (libsodium's), for tests and `experimance keygen`.
    pub fn generate() -> Result<Curve, zmq::Error> {
        let pair = zmq::CurveKeyPair::new()?;
        Ok(Curve::new(pair.public_key.into(), pair.secret_key.into()))
    }

    /// Connecting sockets expect the server they connect to to hold the secret of `key`.
    pub fn with_server_key(mut self, key: CurveKey) -> Curve {
        self.server = Some(key);
        self
    }

    /// Bound sockets accept only clients with one of `keys` (checked by the service's ZAP
    /// handler); without any, every client that completes the handshake.
    pub fn with_allowed(mut self, keys: impl IntoIterator<Item = CurveKey>) -> Curve {
        self.allow = keys.into_iter().collect();
        self
    }

    /// This service's public key.
    pub fn public_key(&self) -> &CurveKey {
        &self.public
    }

    /// This service's secret key.
    pub fn secret_key(&self) -> &CurveKey {
        &self.secret
    }

    /// Whether a client with public key `key` may connect.
    pub(crate) fn allows(&self, key: &[u8]) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|k| k.0 == key)
    }
}

impl fmt::Debug for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Curve")
            .field("public", &self.public)
            .field("secret", &self.secret)
            .field("server", &self.server)
            .field("allowed", &self.allow.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str, text: &str) -> String {
        let path =
            std::env::temp_dir().join(format!("experimance_curve_{}_{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    #[test]
    fn a_path_that_reads_as_a_key_is_an_error_until_lengthened() {
        let pair = Curve::generate().unwrap();
        // In the temp dir if its path is short Z85 text, else relative to the working
        // directory (the crate's): the whole path must be 40 characters of Z85.
        let name = format!("experimance-curve40-{}", std::process::id());
        let temp = std::env::temp_dir().join(&name);
        let dir = match temp.to_str() {
            Some(t) if t.len() + 6 <= 40 && t.bytes().all(crate::z85::is_z85) => temp,
            _ => Path::new(&name).to_owned(),
        };
        std::fs::create_dir_all(&dir).unwrap();
        // Pad the file name so the whole path is 40 characters.
        let base = dir.to_str().unwrap().len() + 1;
        let path = dir.join(format!("{}.key", "k".repeat(40 - base - 4)));
        let path = path.to_str().unwrap();
        assert!(looks_like_key(path), "{path}");
        std::fs::write(path, certificate(&pair.public, None, "a test")).unwrap();
        let error = load(path, Part::Public).unwrap_err();
        assert!(error.starts_with(AMBIGUOUS), "{error}");
        assert!(error.contains("lengthen its path with a `./`"), "{error}");
        assert!(!error.contains(path), "the value is never shown: {error}");
        // Lengthened as the error says, it is the file.
        let longer = dir.join(".").join(Path::new(path).file_name().unwrap());
        assert_eq!(
            load(longer.to_str().unwrap(), Part::Public).unwrap().0,
            pair.public
        );
        // Without the file, the same text is a key (Z85 text decodes to some key).
        std::fs::remove_file(path).unwrap();
        assert_ne!(load(path, Part::Public).unwrap().0, pair.public);
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn keys_from_text_bare_files_and_certificates() {
        let pair = Curve::generate().unwrap();
        let (public, secret) = (pair.public.to_z85(), pair.secret.to_z85());
        assert_eq!(
            load(&public, Part::Public).unwrap(),
            (pair.public.clone(), None)
        );

        let bare = scratch("bare", &format!("{secret}\n"));
        assert_eq!(
            load(&bare, Part::Secret).unwrap(),
            (pair.secret.clone(), None)
        );

        let secret_cert = scratch(
            "cert_secret",
            &certificate(&pair.public, Some(&pair.secret), "a test"),
        );
        assert_eq!(
            load(&secret_cert, Part::Secret).unwrap(),
            (pair.secret.clone(), Some(pair.public.clone()))
        );
        assert_eq!(load(&secret_cert, Part::Public).unwrap().0, pair.public);
        let public_cert = scratch("cert", &certificate(&pair.public, None, "a test"));
        assert_eq!(load(&public_cert, Part::Public).unwrap().0, pair.public);
        let error = load(&public_cert, Part::Secret).unwrap_err();
        assert!(error.contains("no `secret-key`"), "{error}");

        // pyzmq's own layout, comments and all.
        let pyzmq = scratch(
            "pyzmq",
            &format!(
                "#   ****  Generated on 2026-12-01 by pyzmq  ****\n#   ZeroMQ CURVE **Secret** Certificate\n\nmetadata\ncurve\n    public-key = \"{public}\"\n    secret-key = \"{secret}\"\n"
            ),
        );
        assert_eq!(load(&pyzmq, Part::Secret).unwrap().0, pair.secret);

        let missing = load("/nonexistent/experimance.key", Part::Public).unwrap_err();
        assert!(
            missing.contains("cannot read the key file `/nonexistent/experimance.key`"),
            "{missing}"
        );
        // A secret key's value is never repeated, whatever it looks like.
        let quoted = format!("\"{secret}\"");
        assert!(!load(&quoted, Part::Secret).unwrap_err().contains(&secret));
        // A mistyped key is taken for a path, and the error does not repeat it.
        let typo = &secret[..39];
        assert!(!load(typo, Part::Secret).unwrap_err().contains(typo));
    }

    #[test]
    fn the_public_key_follows_from_the_secret_key() {
        let pair = Curve::generate().unwrap();
        assert_eq!(pair.secret.public_of_secret(), pair.public);
    }

    #[test]
    fn debug_shows_no_key() {
        let curve = Curve::generate()
            .unwrap()
            .with_server_key(Curve::generate().unwrap().public)
            .with_allowed([Curve::generate().unwrap().public]);
        let text = format!("{curve:?}");
        for key in [
            &curve.public,
            &curve.secret,
            curve.server.as_ref().unwrap(),
            &curve.allow[0],
        ] {
            assert!(!text.contains(&key.to_z85()), "{text}");
        }
        assert!(text.contains("allowed: 1"), "{text}");
    }
}
