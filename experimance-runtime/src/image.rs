//! Images and other large binary payloads between services, in the two forms the Python
//! services' image sources use: inline, base64 in a `data:` URL inside the JSON
//! (`"image_data"`), or a `file://` URI to a file on the same host (`"uri"`).
//!
//! - [`ImageSource`] is the object itself: a field of a message, or flattened into one
//!   (`#[serde(flatten)]`, as the Python `DisplayMedia` inherits its fields). A receiver
//!   calls [`ImageSource::load`].
//! - [`ImageSender`] makes them: inline up to [`INLINE_MAX`] or when the peers may be on
//!   another host, else a temporary file that it deletes again after a while, and at the
//!   latest when it is dropped.
//! - [`Context::same_host`](crate::Context::same_host) says whether every peer of a socket
//!   is on this host.
//!
//! ```
//! use experimance_runtime::image::{ImageSender, ImageSource};
//!
//! let png = vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3];
//! let mut images = ImageSender::new();
//! // A small image, or a peer that may be elsewhere: inline.
//! let small = images.source(&png, "png", true).unwrap();
//! assert!(small.image_data.as_deref().unwrap().starts_with("data:image/png;base64,"));
//! assert_eq!(small.load().unwrap(), png);
//!
//! // A large one for a peer on this host: a file, which the receiver reads.
//! let mut images = ImageSender::new().with_inline_max(4);
//! let large = images.source(&png, "png", true).unwrap();
//! assert!(large.uri.as_deref().unwrap().starts_with("file:///"));
//! assert_eq!(large.load().unwrap(), png);
//! drop(images); // deletes the file
//! assert!(large.load().is_err());
//! ```

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::address::{Direction, Endpoint};

/// The largest image sent inline to a peer on the same host: larger ones go as a file. The
/// Python services' threshold (1 MiB).
pub const INLINE_MAX: usize = 1024 * 1024;

/// How long an [`ImageSender`] keeps a file by default: the Python services' cleanup age
/// (5 minutes).
pub const KEEP: Duration = Duration::from_secs(300);

/// How many bytes of files an [`ImageSender`] keeps by default; past this the oldest go
/// first, whatever their age.
pub const KEEP_BYTES: u64 = 512 * 1024 * 1024;

/// The largest image [`ImageSource::load`] reads by default (64 MiB).
pub const LOAD_MAX: u64 = 64 * 1024 * 1024;

/// The start of every temporary file's name: the Python services' prefix, so that their
/// cleanup of old files takes these too.
pub const FILE_PREFIX: &str = "experimance_img_";

/// An image inside a message: `image_data` (base64, as a `data:image/<format>;base64,` URL)
/// or `uri` (`file:///absolute/path`), or both. The JSON object of the Python services'
/// `ImageSource`.
///
/// A `file://` URI is the path written after `file://`, as the Python services write and
/// read it (no percent-encoding).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ImageSource {
    /// The image inline: `data:image/png;base64,...` (plain base64 is read too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_data: Option<String>,
    /// Where the image is: `file:///absolute/path` on the sender's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// Why an image could not be made or read. No variant repeats text from the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// Neither `image_data` nor a readable `uri`.
    #[error("the image source has neither `image_data` nor `uri`")]
    Empty,
    /// `image_data` is not base64 (after a `data:` prefix, if any).
    #[error("`image_data` is not base64: {0}")]
    Base64(base64::DecodeError),
    /// A `data:` URL that is not `;base64,`.
    #[error("`image_data` is a data URL without `;base64,`")]
    NotBase64Url,
    /// `uri` is not a `file://` URI with an absolute path.
    #[error("`uri` is not a file:// URI with an absolute path (scheme {scheme:?})")]
    UnsupportedUri {
        /// The scheme, cut to 16 characters of letters, digits, `+`, `-` and `.`.
        scheme: String,
    },
    /// The file of `uri` is not a regular file (a directory, a device, a pipe).
    #[error("the file of `uri` is not a regular file")]
    NotAFile,
    /// Over the size limit.
    #[error("the image is {size} bytes or more, over the limit of {max}")]
    TooLarge {
        /// The size found (at least).
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Reading the file of `uri`, or writing a temporary file, failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
}

impl ImageSource {
    /// `bytes` inline, as `data:image/<format>;base64,...`. `format` is the image type's name
    /// (`png`, `jpeg`, `webp`); characters other than letters, digits, `+`, `-` and `.` are
    /// left out of it.
    pub fn inline(bytes: &[u8], format: &str) -> ImageSource {
        let format = clean_format(format);
        let mut data = String::with_capacity(32 + bytes.len().div_ceil(3) * 4);
        data.push_str("data:image/");
        data.push_str(&format);
        data.push_str(";base64,");
        STANDARD.encode_string(bytes, &mut data);
        ImageSource {
            image_data: Some(data),
            uri: None,
        }
    }

    /// The file at `path` (made absolute against the current directory), as a `file://` URI.
    pub fn file(path: &Path) -> io::Result<ImageSource> {
        let path = std::path::absolute(path)?;
        Ok(ImageSource {
            image_data: None,
            uri: Some(format!("file://{}", path.display())),
        })
    }

    /// The path of a `file://` URI, if `uri` is one with an absolute path.
    pub fn path(&self) -> Option<PathBuf> {
        let path = self.uri.as_deref()?.strip_prefix("file://")?;
        let path = Path::new(path);
        path.is_absolute().then(|| path.to_path_buf())
    }

    /// The image's bytes, up to [`LOAD_MAX`]; see [`ImageSource::load_max`].
    pub fn load(&self) -> Result<Vec<u8>, ImageError> {
        self.load_max(LOAD_MAX)
    }

    /// The image's bytes, as the Python services read them: the file of `uri` if it exists,
    /// else `image_data`, else an error about `uri`. Reads no more than `max` bytes from
    /// anywhere, and only regular files (not `/dev/zero`, not a pipe).
    ///
    /// Reading a file blocks the thread (microseconds to a few milliseconds for an image in
    /// the page cache); a service that loads large files from slow disks does it in
    /// `tokio::task::spawn_blocking`.
    pub fn load_max(&self, max: u64) -> Result<Vec<u8>, ImageError> {
        if let Some(path) = self.path() {
            match read_file(&path, max) {
                Err(ImageError::Io { source, .. })
                    if source.kind() == io::ErrorKind::NotFound && self.image_data.is_some() => {}
                other => return other,
            }
        }
        if let Some(data) = &self.image_data {
            return decode_data(data, max);
        }
        match &self.uri {
            None => Err(ImageError::Empty),
            Some(uri) => Err(ImageError::UnsupportedUri {
                scheme: scheme_of(uri),
            }),
        }
    }
}

/// Decodes `image_data`: a `data:<type>;base64,<data>` URL or plain base64, of at most `max`
/// bytes once decoded.
pub fn decode_data(data: &str, max: u64) -> Result<Vec<u8>, ImageError> {
    let base64 = match data.strip_prefix("data:") {
        Some(rest) => {
            let (header, body) = rest.split_once(',').ok_or(ImageError::NotBase64Url)?;
            if !header.ends_with(";base64") {
                return Err(ImageError::NotBase64Url);
            }
            body
        }
        None => data,
    };
    let size = (base64.len() as u64 / 4) * 3;
    if size > max + 2 {
        return Err(ImageError::TooLarge { size, max });
    }
    let bytes = STANDARD.decode(base64).map_err(ImageError::Base64)?;
    if bytes.len() as u64 > max {
        return Err(ImageError::TooLarge {
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}

fn read_file(path: &Path, max: u64) -> Result<Vec<u8>, ImageError> {
    let io = |what| move |source| ImageError::Io { what, source };
    let mut options = OpenOptions::new();
    options.read(true);
    // Opening a named pipe would wait for a writer: not without O_NONBLOCK, which regular
    // files ignore; anything but a regular file is refused below.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options
        .open(path)
        .map_err(io("cannot open the file of `uri`"))?;
    let meta = file
        .metadata()
        .map_err(io("cannot read the file of `uri`"))?;
    if !meta.is_file() {
        return Err(ImageError::NotAFile);
    }
    if meta.len() > max {
        return Err(ImageError::TooLarge {
            size: meta.len(),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow while it is read: never past the limit.
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(io("cannot read the file of `uri`"))?;
    if bytes.len() as u64 > max {
        return Err(ImageError::TooLarge {
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}

fn scheme_of(uri: &str) -> String {
    uri.split_once(':')
        .map(|(scheme, _)| scheme)
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+-.".contains(*c))
        .take(16)
        .collect()
}

fn clean_format(format: &str) -> String {
    let clean: String = format
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+-.".contains(*c))
        .take(32)
        .collect();
    if clean.is_empty() {
        "png".to_owned()
    } else {
        clean.to_ascii_lowercase()
    }
}

/// Makes [`ImageSource`]s, inline or as temporary files, and deletes its files again.
///
/// [`ImageSender::source`] puts an image in a file when the peers are on this host and it is
/// larger than the inline limit ([`INLINE_MAX`] by default), as the Python services do; else
/// inline. Files are named `experimance_img_<time>_<process>_<n>.<format>`, readable by the
/// same user only, in the directory given (the system's temporary directory by default;
/// `/dev/shm` keeps them in memory). A file is deleted once it is older than the keep time
/// ([`KEEP`]), when the files kept pass [`KEEP_BYTES`] (oldest first), by
/// [`ImageSender::clear`] (a service calls it in its `#[on_stop]`), and when the sender is
/// dropped: a receiver has that long to read it.
#[derive(Debug)]
pub struct ImageSender {
    dir: PathBuf,
    inline_max: usize,
    keep: Duration,
    keep_bytes: u64,
    /// The files written and not yet deleted, oldest first, with their time and size.
    files: VecDeque<(PathBuf, Instant, u64)>,
    bytes: u64,
}

impl Default for ImageSender {
    fn default() -> Self {
        ImageSender::new()
    }
}

/// Numbers the files of this process.
static FILES: AtomicU64 = AtomicU64::new(0);

impl ImageSender {
    /// A sender with the defaults: the system's temporary directory, [`INLINE_MAX`],
    /// [`KEEP`] and [`KEEP_BYTES`].
    pub fn new() -> ImageSender {
        ImageSender {
            dir: std::env::temp_dir(),
            inline_max: INLINE_MAX,
            keep: KEEP,
            keep_bytes: KEEP_BYTES,
            files: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Writes files into `dir` (which must exist).
    pub fn with_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
        self
    }

    /// Sends images of up to `bytes` inline even to peers on this host.
    pub fn with_inline_max(mut self, bytes: usize) -> Self {
        self.inline_max = bytes;
        self
    }

    /// Keeps each file for `keep` after it was written.
    pub fn with_keep(mut self, keep: Duration) -> Self {
        self.keep = keep;
        self
    }

    /// Keeps at most `bytes` of files (the oldest are deleted first).
    pub fn with_keep_bytes(mut self, bytes: u64) -> Self {
        self.keep_bytes = bytes;
        self
    }

    /// How many files it keeps now.
    pub fn files(&self) -> usize {
        self.files.len()
    }

    /// `bytes` (of type `format`: `png`, `jpeg`, ...) as an image source: a file when
    /// `same_host` (every peer is on this host, see
    /// [`Context::same_host`](crate::Context::same_host)) and it is larger than the inline
    /// limit, else inline. Deletes the files that are due first.
    ///
    /// Writing the file blocks the thread (about a millisecond for 4 MiB into the page
    /// cache, no `fsync`).
    pub fn source(
        &mut self,
        bytes: &[u8],
        format: &str,
        same_host: bool,
    ) -> Result<ImageSource, ImageError> {
        self.cleanup();
        if !same_host || bytes.len() <= self.inline_max {
            return Ok(ImageSource::inline(bytes, format));
        }
        let path = self.write(bytes, format)?;
        let source = ImageSource::file(&path).map_err(|source| ImageError::Io {
            what: "cannot make the file's path absolute",
            source,
        })?;
        self.bytes += bytes.len() as u64;
        self.files
            .push_back((path, Instant::now(), bytes.len() as u64));
        while self.bytes > self.keep_bytes && self.files.len() > 1 {
            self.delete_oldest();
        }
        Ok(source)
    }

    fn write(&self, bytes: &[u8], format: &str) -> Result<PathBuf, ImageError> {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "{FILE_PREFIX}{}{:03}_{}_{}.{}",
            since.as_secs(),
            since.subsec_millis(),
            std::process::id(),
            FILES.fetch_add(1, Ordering::Relaxed),
            clean_format(format)
        );
        let path = self.dir.join(name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options
            .open(&path)
            .and_then(|mut file| file.write_all(bytes));
        if let Err(source) = written {
            let _ = std::fs::remove_file(&path);
            return Err(ImageError::Io {
                what: "cannot write the image's temporary file",
                source,
            });
        }
        Ok(path)
    }

    /// Deletes the files older than the keep time; returns how many it deleted.
    pub fn cleanup(&mut self) -> usize {
        let mut deleted = 0;
        while let Some((_, written, _)) = self.files.front() {
            if written.elapsed() < self.keep {
                break;
            }
            self.delete_oldest();
            deleted += 1;
        }
        deleted
    }

    /// Deletes every file it keeps.
    pub fn clear(&mut self) {
        while !self.files.is_empty() {
            self.delete_oldest();
        }
    }

    fn delete_oldest(&mut self) {
        if let Some((path, _, size)) = self.files.pop_front() {
            self.bytes -= size;
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "cannot delete an image's temporary file");
                }
            }
        }
    }
}

impl Drop for ImageSender {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Whether every peer of a socket with `endpoints` is on this host: `ipc://` and `inproc://`
/// are; a TCP bind is only to a loopback address (a bind to `*` or to another interface
/// takes peers from anywhere); a TCP connect is to `localhost` or an address of this host
/// (host names are looked up, which may block). No endpoint: `false`.
pub fn same_host(endpoints: &[Endpoint]) -> bool {
    !endpoints.is_empty() && endpoints.iter().all(endpoint_on_this_host)
}

fn endpoint_on_this_host(endpoint: &Endpoint) -> bool {
    let address = endpoint.address.as_str();
    if address.starts_with("ipc://") || address.starts_with("inproc://") {
        return true;
    }
    let Some(rest) = address.strip_prefix("tcp://") else {
        return false;
    };
    // `tcp://source;host:port` names the local side first.
    let rest = rest.rsplit(';').next().unwrap_or(rest);
    let host = match rest.rsplit_once(':') {
        Some((host, _port)) => host,
        None => rest,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host == "lo" {
        return true;
    }
    let ip: Option<IpAddr> = host.parse().ok();
    match endpoint.direction {
        Direction::Bind => ip.is_some_and(|ip| ip.is_loopback()),
        Direction::Connect => match ip {
            Some(ip) => is_local(ip),
            None => (host, 0)
                .to_socket_addrs()
                .map(|mut addrs| addrs.any(|a| is_local(a.ip())))
                .unwrap_or(false),
        },
    }
}

/// Whether `ip` is an address of this host: the system lets a socket bind to it.
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || (!ip.is_unspecified() && UdpSocket::bind((ip, 0)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Role;

    fn scratch(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("experimance-image-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn image(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn inline_is_a_base64_data_url_and_decodes_back() {
        let bytes = image(1000);
        let source = ImageSource::inline(&bytes, "PNG");
        let data = source.image_data.as_deref().unwrap();
        assert!(data.starts_with("data:image/png;base64,"));
        assert_eq!(source.load().unwrap(), bytes);
        // As JSON: only the field that is set.
        let json = serde_json::to_value(&source).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 1);
        // Plain base64 (what one Python image server writes) and `null` fields read too.
        let plain = STANDARD.encode(&bytes);
        let parsed: ImageSource =
            serde_json::from_value(serde_json::json!({"image_data": plain, "uri": null})).unwrap();
        assert_eq!(parsed.load().unwrap(), bytes);
        // A format cannot break the URL.
        let odd = ImageSource::inline(b"x", "pn,g;x");
        assert!(odd
            .image_data
            .unwrap()
            .starts_with("data:image/pngx;base64,"));
    }

    #[test]
    fn bad_sources_are_errors_that_repeat_nothing_of_the_message() {
        let bad = |data: Option<&str>, uri: Option<&str>| {
            ImageSource {
                image_data: data.map(str::to_owned),
                uri: uri.map(str::to_owned),
            }
            .load()
            .unwrap_err()
        };
        assert!(matches!(bad(None, None), ImageError::Empty));
        assert!(matches!(
            bad(Some("data:image/png,abc"), None),
            ImageError::NotBase64Url
        ));
        assert!(matches!(bad(Some("@@@@"), None), ImageError::Base64(_)));
        let e = bad(None, Some("https://secret.example/x\n.png"));
        assert!(matches!(e, ImageError::UnsupportedUri { ref scheme } if scheme == "https"));
        assert!(!e.to_string().contains("secret"));
        assert!(matches!(
            bad(None, Some("file://relative.png")),
            ImageError::UnsupportedUri { .. }
        ));
        assert!(matches!(
            bad(None, Some("file:///dev/zero")),
            ImageError::NotAFile
        ));
        assert!(matches!(bad(None, Some("file:///")), ImageError::NotAFile));
        // A named pipe with no writer: refused at once, not waited on.
        #[cfg(unix)]
        {
            let dir = scratch("fifo");
            let fifo = dir.join("pipe.png");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            assert!(made.unwrap().success());
            let uri = format!("file://{}", fifo.display());
            assert!(matches!(bad(None, Some(&uri)), ImageError::NotAFile));
            std::fs::remove_dir_all(dir).unwrap();
        }
        let missing = bad(None, Some("file:///nonexistent/experimance.png"));
        assert!(
            matches!(missing, ImageError::Io { ref source, .. } if source.kind() == io::ErrorKind::NotFound)
        );
        // Over the limit, before decoding or reading.
        let big = ImageSource::inline(&image(5000), "png");
        assert!(matches!(
            big.load_max(4999),
            Err(ImageError::TooLarge { max: 4999, .. })
        ));
        assert_eq!(big.load_max(5000).unwrap().len(), 5000);
    }

    #[test]
    fn the_file_wins_and_a_missing_file_falls_back_to_the_data() {
        let dir = scratch("prefer");
        let path = dir.join("a.png");
        std::fs::write(&path, b"from the file").unwrap();
        let mut both = ImageSource::file(&path).unwrap();
        both.image_data = ImageSource::inline(b"inline", "png").image_data;
        assert_eq!(both.load().unwrap(), b"from the file");
        assert!(matches!(
            both.load_max(4),
            Err(ImageError::TooLarge { size: 13, max: 4 })
        ));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(both.load().unwrap(), b"inline");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn large_images_for_this_host_go_as_files_that_are_deleted_again() {
        let dir = scratch("sender");
        let mut sender = ImageSender::new().with_dir(&dir).with_inline_max(100);
        let small = sender.source(&image(100), "png", true).unwrap();
        assert!(small.uri.is_none() && small.image_data.is_some());
        let remote = sender.source(&image(101), "png", false).unwrap();
        assert!(remote.uri.is_none());
        let large = sender.source(&image(101), "jpeg", true).unwrap();
        assert!(large.image_data.is_none());
        let path = large.path().unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(FILE_PREFIX) && name.ends_with(".jpeg"),
            "{name}"
        );
        assert_eq!(path.parent().unwrap(), dir);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(large.load().unwrap(), image(101));
        assert_eq!(sender.files(), 1);

        // Past the byte budget the oldest goes, whatever its age.
        let mut sender2 = ImageSender::new()
            .with_dir(&dir)
            .with_inline_max(0)
            .with_keep_bytes(250);
        let sources: Vec<ImageSource> = (0..4)
            .map(|_| sender2.source(&image(100), "png", true).unwrap())
            .collect();
        assert_eq!(sender2.files(), 2);
        assert!(sources[0].load().is_err() && sources[1].load().is_err());
        assert!(sources[2].load().is_ok() && sources[3].load().is_ok());

        // Past the keep time.
        let mut sender3 = ImageSender::new()
            .with_dir(&dir)
            .with_inline_max(0)
            .with_keep(Duration::ZERO);
        let old = sender3.source(&image(10), "png", true).unwrap();
        assert_eq!(sender3.cleanup(), 1);
        assert!(old.load().is_err());

        drop(sender);
        drop(sender2);
        assert!(large.load().is_err());
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn same_host_is_judged_per_endpoint() {
        let on = |role, spec: &str| same_host(&[Endpoint::parse(role, spec)]);
        assert!(on(Role::Pub, "ipc:///tmp/x"));
        assert!(on(Role::Pub, "tcp://127.0.0.1:5555"));
        assert!(on(Role::Pub, "tcp://[::1]:5555"));
        assert!(!on(Role::Pub, "tcp://*:5555"));
        assert!(!on(Role::Pub, "tcp://0.0.0.0:5555"));
        assert!(on(Role::Sub, "tcp://localhost:5555"));
        assert!(on(Role::Sub, "tcp://127.0.0.1:5555"));
        assert!(on(Role::Push, ">tcp://127.0.0.2:5555"));
        assert!(
            !on(Role::Sub, "tcp://192.0.2.1:5555"),
            "TEST-NET-1 is not this host"
        );
        assert!(!on(Role::Sub, "tcp://0.0.0.0:5555"));
        assert!(on(Role::Sub, "tcp://192.0.2.1:0;127.0.0.1:5555"));
        assert!(!on(Role::Sub, "udp://127.0.0.1:5555"));
        assert!(!same_host(&[]));
        assert!(!same_host(&[
            Endpoint::parse(Role::Sub, "tcp://localhost:1"),
            Endpoint::parse(Role::Sub, "tcp://192.0.2.1:1"),
        ]));
    }
}
