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
use std::fs::OpenOptions;
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

/// Why an image could not be made or read. No variant carries text of the message beyond
/// a URI's scheme (letters, digits, `+`, `-` and `.`, at most 16) and the value and position
/// of a byte that is not base64.
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
    /// The file of `uri` is outside the directories given to
    /// [`ImageSource::load_within`].
    #[error("the file of `uri` is outside the directories images are read from")]
    OutsideDirs,
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
        Ok(ImageSource::at(&std::path::absolute(path)?))
    }

    /// The file at the absolute `path`, as a `file://` URI.
    fn at(path: &Path) -> ImageSource {
        ImageSource {
            image_data: None,
            uri: Some(format!("file://{}", path.display())),
        }
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
    /// anywhere, and only regular files: not a device, not a named pipe, and nothing that
    /// would make it wait (files are opened non-blocking). It reads any regular file this
    /// process may read; [`ImageSource::load_within`] keeps it to some directories.
    ///
    /// Reading a file blocks the thread (microseconds to a few milliseconds for an image in
    /// the page cache); a service that loads large files from slow disks does it in
    /// `tokio::task::spawn_blocking`.
    pub fn load_max(&self, max: u64) -> Result<Vec<u8>, ImageError> {
        self.load_from(max, None)
    }

    /// [`ImageSource::load_max`], reading a `uri` only if its file (symbolic links resolved)
    /// is inside one of `dirs`; another is [`ImageError::OutsideDirs`].
    ///
    /// ```
    /// use experimance_runtime::image::{ImageError, ImageSource, LOAD_MAX};
    ///
    /// let source = ImageSource { image_data: None, uri: Some("file:///etc/hostname".into()) };
    /// let allowed = [std::env::temp_dir()];
    /// assert!(matches!(source.load_within(&allowed, LOAD_MAX), Err(ImageError::OutsideDirs)));
    /// ```
    pub fn load_within<P: AsRef<Path>>(&self, dirs: &[P], max: u64) -> Result<Vec<u8>, ImageError> {
        let dirs: Vec<PathBuf> = dirs
            .iter()
            .filter_map(|d| std::fs::canonicalize(d.as_ref()).ok())
            .collect();
        self.load_from(max, Some(&dirs))
    }

    fn load_from(&self, max: u64, dirs: Option<&[PathBuf]>) -> Result<Vec<u8>, ImageError> {
        if let Some(path) = self.path() {
            match read_file(&path, max, dirs) {
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
    if size > max.saturating_add(2) {
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

fn read_file(path: &Path, max: u64, dirs: Option<&[PathBuf]>) -> Result<Vec<u8>, ImageError> {
    let io = |what| move |source| ImageError::Io { what, source };
    if let Some(dirs) = dirs {
        let real = std::fs::canonicalize(path).map_err(io("cannot find the file of `uri`"))?;
        if !dirs.iter().any(|dir| real.starts_with(dir)) {
            return Err(ImageError::OutsideDirs);
        }
    }
    // Looked at before it is opened: opening a device or a named pipe can wait, or do
    // something (a serial port resets the board on it).
    let meta = std::fs::metadata(path).map_err(io("cannot find the file of `uri`"))?;
    if !meta.is_file() {
        return Err(ImageError::NotAFile);
    }
    if meta.len() > max {
        return Err(ImageError::TooLarge {
            size: meta.len(),
            max,
        });
    }
    let mut options = OpenOptions::new();
    options.read(true);
    // Should it have been swapped for something else since: no waiting to open it, and no
    // controlling terminal. Regular files ignore both.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NONBLOCK | libc::O_NOCTTY,
    );
    let file = options
        .open(path)
        .map_err(io("cannot open the file of `uri`"))?;
    let meta = file
        .metadata()
        .map_err(io("cannot read the file of `uri`"))?;
    if !meta.is_file() {
        return Err(ImageError::NotAFile);
    }
    let mut bytes = Vec::with_capacity(meta.len().min(max) as usize);
    // The file may grow while it is read: never past the limit.
    file.take(max.saturating_add(1))
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
/// inline, up to [`INLINE_CAP`]. Files are named `experimance_img_<time>_<process>_<n>.<format>`,
/// readable by the same user only (a receiver running as another user cannot read them), in
/// the directory given (the system's temporary directory by default; `/dev/shm` keeps them in
/// memory).
///
/// A file is kept for the keep time ([`KEEP`]) and then deleted by the next
/// [`ImageSender::source`] or [`ImageSender::cleanup`] (a service that may go quiet calls
/// `cleanup` from an `#[every]` timer); the oldest go first once the files kept pass
/// [`KEEP_BYTES`]; [`ImageSender::clear`] (in the service's `#[on_stop]`) and dropping the
/// sender delete them all. A receiver has that long to read a file. The first file a sender
/// writes also sweeps its directory of the `experimance_img_*` files older than the keep
/// time that this user may delete, which a process that was killed left behind.
#[derive(Debug)]
pub struct ImageSender {
    dir: PathBuf,
    inline_max: usize,
    inline_cap: usize,
    keep: Duration,
    keep_bytes: u64,
    /// The files written and not yet deleted, oldest first, with their time and size.
    files: VecDeque<(PathBuf, Instant, u64)>,
    bytes: u64,
    /// Whether the directory was swept of old files.
    swept: bool,
}

impl Default for ImageSender {
    fn default() -> Self {
        ImageSender::new()
    }
}

/// The largest image sent inline: its base64 (a third more) stays under the services'
/// default `max_message_size` (16 MiB), which a receiver enforces by dropping the connection.
pub const INLINE_CAP: usize = 12 * 1024 * 1024;

/// Numbers the files of this process.
static FILES: AtomicU64 = AtomicU64::new(0);

impl ImageSender {
    /// A sender with the defaults: the system's temporary directory, [`INLINE_MAX`],
    /// [`INLINE_CAP`], [`KEEP`] and [`KEEP_BYTES`].
    pub fn new() -> ImageSender {
        ImageSender {
            dir: std::env::temp_dir(),
            inline_max: INLINE_MAX,
            inline_cap: INLINE_CAP,
            keep: KEEP,
            keep_bytes: KEEP_BYTES,
            files: VecDeque::new(),
            bytes: 0,
            swept: false,
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

    /// Refuses ([`ImageError::TooLarge`]) to send images over `bytes` inline; for a peer
    /// whose `max_message_size` is not the default.
    pub fn with_inline_cap(mut self, bytes: usize) -> Self {
        self.inline_cap = bytes;
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
    /// limit, else inline. Deletes the files that are due first. A file that cannot be
    /// written (a full disk) is logged, and the image goes inline instead.
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
        if same_host && bytes.len() > self.inline_max {
            match self.write(bytes, format) {
                Ok(path) => return Ok(self.kept(path, bytes.len() as u64)),
                Err(e) if bytes.len() <= self.inline_cap => {
                    tracing::warn!(dir = %self.dir.display(), error = %e, "cannot write an image's temporary file; sending the image inline");
                }
                Err(e) => return Err(e),
            }
        }
        if bytes.len() > self.inline_cap {
            return Err(ImageError::TooLarge {
                size: bytes.len() as u64,
                max: self.inline_cap as u64,
            });
        }
        Ok(ImageSource::inline(bytes, format))
    }

    /// The source of the file at `path` just written, which it now keeps.
    fn kept(&mut self, path: PathBuf, size: u64) -> ImageSource {
        let source = ImageSource::at(&path);
        self.bytes += size;
        self.files.push_back((path, Instant::now(), size));
        while self.bytes > self.keep_bytes && self.files.len() > 1 {
            self.delete_oldest();
        }
        source
    }

    fn write(&mut self, bytes: &[u8], format: &str) -> Result<PathBuf, ImageError> {
        let dir = std::path::absolute(&self.dir).map_err(|source| ImageError::Io {
            what: "cannot make the directory of temporary files absolute",
            source,
        })?;
        if !self.swept {
            self.swept = true;
            sweep(&dir, self.keep);
        }
        let format = clean_format(format);
        let mut tries = 0;
        loop {
            let since = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let name = format!(
                "{FILE_PREFIX}{}{:03}_{}_{}.{format}",
                since.as_secs(),
                since.subsec_millis(),
                std::process::id(),
                FILES.fetch_add(1, Ordering::Relaxed),
            );
            let path = dir.join(name);
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let written = options
                .open(&path)
                .and_then(|mut file| file.write_all(bytes));
            match written {
                Ok(()) => return Ok(path),
                // Another process of the same number (another PID namespace) in the same
                // millisecond: the next number.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 16 => tries += 1,
                Err(source) => {
                    if source.kind() != io::ErrorKind::AlreadyExists {
                        let _ = std::fs::remove_file(&path);
                    }
                    return Err(ImageError::Io {
                        what: "cannot write the image's temporary file",
                        source,
                    });
                }
            }
        }
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

/// Deletes the `experimance_img_*` regular files in `dir` older than `keep` that this user
/// may delete: what a process that was killed left behind (and what the Python services'
/// own cleanup deletes).
fn sweep(dir: &Path, keep: Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut deleted = 0;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| n.starts_with(FILE_PREFIX)) {
            continue;
        }
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > keep);
        // Another user's file in a shared directory (sticky, as /tmp and /dev/shm are) cannot
        // be deleted: the system refuses, and it stays.
        if meta.is_file() && old && std::fs::remove_file(entry.path()).is_ok() {
            deleted += 1;
        }
    }
    if deleted > 0 {
        tracing::info!(dir = %dir.display(), deleted, "deleted old temporary image files");
    }
}

/// Whether every peer of a socket with `endpoints` is on this host: `ipc://` and `inproc://`
/// are; a TCP bind is only to a loopback address (a bind to `*` or to another interface
/// takes peers from anywhere); a TCP connect is to `localhost` or an address of this host
/// (a host name is looked up, which may block, and every address it has must be this
/// host's). No endpoint: `false`.
///
/// It sees only the direct peers: a PUB connected to a hub on this host is judged on this
/// host although the hub's subscribers may be elsewhere, and a peer in another container, a
/// service with a private `/tmp`, or one behind a tunnel may not see this host's files. Such
/// installations pass `false` (or use a directory both see).
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
                .map(|addrs| {
                    let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                    !ips.is_empty() && ips.into_iter().all(is_local)
                })
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
    fn load_within_reads_only_inside_the_directories_given() {
        let dir = scratch("within");
        let inside = dir.join("in");
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::write(inside.join("a.png"), b"inside").unwrap();
        let outside = dir.join("secret.key");
        std::fs::write(&outside, b"secret").unwrap();
        let at = |p: &Path| ImageSource::file(p).unwrap();
        let dirs = [&inside];
        assert_eq!(
            at(&inside.join("a.png"))
                .load_within(&dirs, LOAD_MAX)
                .unwrap(),
            b"inside"
        );
        assert!(matches!(
            at(&outside).load_within(&dirs, LOAD_MAX),
            Err(ImageError::OutsideDirs)
        ));
        // Through `..` or a symbolic link out of the directory: still outside.
        assert!(matches!(
            at(&inside.join("../secret.key")).load_within(&dirs, LOAD_MAX),
            Err(ImageError::OutsideDirs)
        ));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&outside, inside.join("link.png")).unwrap();
            assert!(matches!(
                at(&inside.join("link.png")).load_within(&dirs, LOAD_MAX),
                Err(ImageError::OutsideDirs)
            ));
        }
        // No limit at all works too.
        assert_eq!(at(&outside).load_max(u64::MAX).unwrap(), b"secret");
        let inline = ImageSource::inline(b"abc", "png");
        assert_eq!(inline.load_max(u64::MAX).unwrap(), b"abc");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_sender_caps_inline_falls_back_to_inline_and_sweeps_old_files() {
        let dir = scratch("sender-edges");
        // Too big to go inline: refused, not sent to be dropped by the receiver.
        let mut capped = ImageSender::new().with_dir(&dir).with_inline_cap(100);
        assert!(matches!(
            capped.source(&image(101), "png", false),
            Err(ImageError::TooLarge {
                size: 101,
                max: 100
            })
        ));
        assert!(capped.source(&image(100), "png", false).is_ok());
        // A directory it cannot write to: inline instead.
        let mut nowhere = ImageSender::new()
            .with_dir(dir.join("missing"))
            .with_inline_max(0);
        let source = nowhere.source(&image(10), "png", true).unwrap();
        assert!(source.uri.is_none() && source.image_data.is_some());
        // Files of a killed process: an old one goes with the first file written, a fresh
        // one and other names stay.
        let old = dir.join(format!("{FILE_PREFIX}old.png"));
        let fresh = dir.join(format!("{FILE_PREFIX}fresh.png"));
        let other = dir.join("other.png");
        for path in [&old, &fresh, &other] {
            std::fs::write(path, b"x").unwrap();
        }
        let long_ago = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        std::fs::File::options()
            .write(true)
            .open(&other)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let mut sender = ImageSender::new().with_dir(&dir).with_inline_max(0);
        sender.source(&image(10), "png", true).unwrap();
        assert!(!old.exists());
        assert!(fresh.exists() && other.exists());
        drop(sender);
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
