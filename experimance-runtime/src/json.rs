//! JSON encoding for the send path: byte for byte what `serde_json::to_writer` writes, with
//! long strings escaped 64 bytes at a time.
//!
//! serde_json looks up every byte of a string in its escape table, about 2 GB/s on the
//! machine of the README's table: encoding a 1 MiB message cost more CPU than sending it.
//! For a buffer that has carried big messages ([`BIG_BUFFER`]), [`write`] lets serde_json
//! write everything (punctuation, keys, numbers, short strings) but hands it every value
//! wrapped in [`Fast`], a serializer that forwards each call. For a string value of
//! [`LONG`] bytes or more, `Fast` escapes the string with [`escape_into`] (a scan 64 bytes
//! at a time) into [`Pending`], a scratch buffer reused for the whole message, and asks
//! serde_json for an empty string; [`Escaping`], serde_json's formatter here, copies the
//! escaped text between the quotes. The output is the same bytes; the unit tests compare
//! the two. No `unsafe`: the text crosses over as an owned copy, whose cost (a memcpy) is
//! small beside the escaping (`cargo bench --bench escape`).
//!
//! Wrapping every value costs about a tenth on messages made of short strings only. So a
//! message type that was just written wrapped, at least [`BIG_BUFFER`] bytes of it and no
//! long string, is written by serde_json alone for its next [`PLAIN_RUN`] messages on that
//! thread, then tried wrapped again ([`Plain`]). A type whose messages are sometimes big
//! with short strings and sometimes carry a long one pays serde_json's speed for the long
//! strings of at most that many messages in a row.

use std::cell::{Cell, RefCell};
use std::io;

use serde::ser::{self, Serialize, Serializer};
use serde_json::ser::Formatter;

/// How serde_json's own token structs are named: `RawValue`, and `Number` with the
/// `arbitrary_precision` feature. serde_json writes their one field as it is, through
/// serializers that take a string and nothing else, so that field is not wrapped.
const SERDE_JSON_TOKEN: &str = "$serde_json::private::";

/// Strings shorter than this are left to serde_json, whose byte loop is as quick for them.
const LONG: usize = 64;

/// A buffer with less room than this gets plain `serde_json::to_writer`. Send buffers are
/// reused and keep their capacity, so a buffer this big marks a socket that carries big
/// messages; for small ones the wrapping costs more than it saves (about 130 instructions on
/// a 100-byte message, serde_json's whole encoding being about 1,500).
const BIG_BUFFER: usize = 4096;

/// Appends `value` as compact JSON to `buf`: the bytes `serde_json::to_writer` would append.
///
/// On an error (a `Serialize` impl that fails, a map key that is not a string), `buf` holds
/// whatever was written before it.
pub(crate) fn write<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    if buf.capacity() < BIG_BUFFER {
        return serde_json::to_writer(buf, value);
    }
    let kind = Plain::kind::<T>();
    if Plain::take(kind) {
        return serde_json::to_writer(buf, value);
    }
    let start = buf.len();
    // The scratch buffer is the thread's, kept between messages (up to `KEPT_SCRATCH`): a
    // fresh megabyte per message would cost its page faults every time.
    let pending = Pending {
        escaped: RefCell::new(SCRATCH.take()),
        ready: Cell::new(false),
        long: Cell::new(false),
    };
    let mut serializer = serde_json::Serializer::with_formatter(buf, Escaping(&pending));
    let result = value.serialize(Fast {
        inner: &mut serializer,
        pending: &pending,
    });
    let written = serializer.into_inner().len() - start;
    if result.is_ok() && !pending.long.get() && written >= BIG_BUFFER {
        Plain::start(kind);
    }
    let scratch = pending.escaped.into_inner();
    if scratch.capacity() <= KEPT_SCRATCH {
        SCRATCH.set(scratch);
    }
    result
}

/// How many messages of a type whose big wrapped encoding met no long string serde_json
/// writes alone before the wrapped path is tried on that type again.
const PLAIN_RUN: u32 = 7;

/// The message types that go to serde_json alone for now, per thread: a few slots of (type,
/// messages left), the type known by the address of its name.
struct Plain;

thread_local! {
    static PLAIN: Cell<[(usize, u32); 8]> = const { Cell::new([(0, 0); 8]) };
}

impl Plain {
    fn kind<T: ?Sized>() -> usize {
        std::any::type_name::<T>().as_ptr() as usize
    }

    /// Whether a message of `kind` goes to serde_json alone (and counts it).
    fn take(kind: usize) -> bool {
        let mut slots = PLAIN.get();
        let Some(slot) = slots.iter_mut().find(|(k, left)| *k == kind && *left > 0) else {
            return false;
        };
        slot.1 -= 1;
        PLAIN.set(slots);
        true
    }

    /// The next [`PLAIN_RUN`] messages of `kind` go to serde_json alone; the slot of the type
    /// with the fewest left is taken.
    fn start(kind: usize) {
        let mut slots = PLAIN.get();
        let slot = match slots.iter().position(|(k, _)| *k == kind) {
            Some(i) => i,
            None => (0..slots.len()).min_by_key(|&i| slots[i].1).unwrap_or(0),
        };
        slots[slot] = (kind, PLAIN_RUN);
        PLAIN.set(slots);
    }
}

/// The largest scratch buffer a thread keeps between messages.
const KEPT_SCRATCH: usize = 8 << 20;

thread_local! {
    /// Each thread's scratch buffer for escaped long strings.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The escaped string value [`Fast`] hands to [`Escaping`]: `ready` while it waits for the
/// `serialize_str("")` call that makes serde_json close a string.
#[derive(Default)]
struct Pending {
    escaped: RefCell<Vec<u8>>,
    ready: Cell<bool>,
    /// Whether the message had a long string.
    long: Cell<bool>,
}

/// serde_json's compact format, but a string closed while a [`Pending`] string waits gets
/// that string, escaped, before its closing quote.
struct Escaping<'a>(&'a Pending);

impl Formatter for Escaping<'_> {
    #[inline]
    fn end_string<W: io::Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<()> {
        if self.0.ready.take() {
            writer.write_all(&self.0.escaped.borrow())?;
        }
        writer.write_all(b"\"")
    }
}

/// A serializer that forwards to `inner` (serde_json's, with [`Escaping`] as its formatter)
/// and escapes long string values itself.
struct Fast<'a, S> {
    inner: S,
    pending: &'a Pending,
}

impl<'a, S> Fast<'a, S> {
    /// `value`, to be serialized through a [`Fast`] of its own.
    fn wrap<'v, T: ?Sized>(&self, value: &'v T) -> Wrap<'v, 'a, T> {
        Wrap {
            value,
            pending: self.pending,
        }
    }
}

/// A value that serializes itself through a [`Fast`].
struct Wrap<'v, 'a, T: ?Sized> {
    value: &'v T,
    pending: &'a Pending,
}

impl<T: Serialize + ?Sized> Serialize for Wrap<'_, '_, T> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Fast {
            inner: serializer,
            pending: self.pending,
        })
    }
}

/// Forwards scalar methods of [`Serializer`] unchanged.
macro_rules! forward {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        #[inline]
        fn $method(self, v: $ty) -> Result<S::Ok, S::Error> {
            self.inner.$method(v)
        }
    )*};
}

/// Opens a compound of serde_json's (`self.serialize_seq(len)`, ...) and wraps it in a
/// [`Compound`].
macro_rules! open {
    ($fast:ident.$method:ident($($arg:expr),*)) => {{
        let pending = $fast.pending;
        $fast.inner.$method($($arg),*).map(|inner| Compound { inner, pending: Some(pending) })
    }};
}

impl<'a, S: Serializer> Serializer for Fast<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<'a, S::SerializeSeq>;
    type SerializeTuple = Compound<'a, S::SerializeTuple>;
    type SerializeTupleStruct = Compound<'a, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<'a, S::SerializeTupleVariant>;
    type SerializeMap = Compound<'a, S::SerializeMap>;
    type SerializeStruct = Compound<'a, S::SerializeStruct>;
    type SerializeStructVariant = Compound<'a, S::SerializeStructVariant>;

    forward!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
    );

    #[inline]
    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        if v.len() < LONG {
            return self.inner.serialize_str(v);
        }
        // serde_json writes the quotes (and gives the `Ok` value); `Escaping` writes the
        // string, escaped here, between them.
        {
            let mut escaped = self.pending.escaped.borrow_mut();
            escaped.clear();
            escape_into(&mut *escaped, v.as_bytes()).map_err(ser::Error::custom)?;
        }
        self.pending.ready.set(true);
        self.pending.long.set(true);
        let done = self.inner.serialize_str("");
        let taken = !self.pending.ready.replace(false);
        let done = done?;
        // `Fast` only wraps serde_json's serializer, which closes the string and so takes
        // it; were it another, the string must not be lost.
        if !taken {
            return Err(ser::Error::custom("a long string was not written"));
        }
        Ok(done)
    }

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let value = self.wrap(value);
        self.inner.serialize_some(&value)
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let value = self.wrap(value);
        self.inner.serialize_newtype_struct(name, &value)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let value = self.wrap(value);
        self.inner
            .serialize_newtype_variant(name, index, variant, &value)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        open!(self.serialize_seq(len))
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        open!(self.serialize_tuple(len))
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        open!(self.serialize_tuple_struct(name, len))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        open!(self.serialize_tuple_variant(name, index, variant, len))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        open!(self.serialize_map(len))
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        if name.starts_with(SERDE_JSON_TOKEN) {
            let inner = self.inner.serialize_struct(name, len)?;
            return Ok(Compound {
                inner,
                pending: None,
            });
        }
        open!(self.serialize_struct(name, len))
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        open!(self.serialize_struct_variant(name, index, variant, len))
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A compound of serde_json's whose element values go through [`Fast`]s. Map keys and
/// field names stay with serde_json.
struct Compound<'a, C> {
    inner: C,
    /// `None` for serde_json's own token structs, whose elements pass through as they are.
    pending: Option<&'a Pending>,
}

/// Implements a compound trait whose elements are added by `$add(value)` or, for structs,
/// `$add(key, value)`.
macro_rules! compound {
    ($trait:ident, $add:ident $(, $key:ident: $key_ty:ty)?) => {
        impl<C: ser::$trait> ser::$trait for Compound<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;

            #[inline]
            fn $add<T: Serialize + ?Sized>(
                &mut self,
                $($key: $key_ty,)?
                value: &T,
            ) -> Result<(), C::Error> {
                match self.pending {
                    Some(pending) => self.inner.$add($($key,)? &Wrap { value, pending }),
                    None => self.inner.$add($($key,)? value),
                }
            }

            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);
compound!(SerializeStruct, serialize_field, key: &'static str);
compound!(SerializeStructVariant, serialize_field, key: &'static str);

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        self.inner.serialize_key(key)
    }

    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        match self.pending {
            Some(pending) => self.inner.serialize_value(&Wrap { value, pending }),
            None => self.inner.serialize_value(value),
        }
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

/// Writes `text` with JSON's escapes, as serde_json writes them: `\"`, `\\`, the short forms
/// `\b \t \n \f \r`, and `\u00xx` (lower-case hex) for the other control characters.
fn escape_into<W: io::Write + ?Sized>(out: &mut W, text: &[u8]) -> io::Result<()> {
    let mut copied = 0;
    let mut at = next_escape(text, 0);
    while at < text.len() {
        out.write_all(&text[copied..at])?;
        let byte = text[at];
        let hex = |nibble: u8| b"0123456789abcdef"[usize::from(nibble)];
        match byte {
            b'"' => out.write_all(b"\\\"")?,
            b'\\' => out.write_all(b"\\\\")?,
            0x08 => out.write_all(b"\\b")?,
            b'\t' => out.write_all(b"\\t")?,
            b'\n' => out.write_all(b"\\n")?,
            0x0c => out.write_all(b"\\f")?,
            b'\r' => out.write_all(b"\\r")?,
            _ => out.write_all(&[b'\\', b'u', b'0', b'0', hex(byte >> 4), hex(byte & 0xf)])?,
        }
        copied = at + 1;
        at = next_escape(text, copied);
    }
    out.write_all(&text[copied..])
}

/// The index of the first byte at or after `from` that JSON must escape (a control
/// character, `"` or `\`), or `text.len()`.
///
/// 64 bytes at a time while no byte of them needs escaping (a loop the compiler turns into
/// vector compares), then eight at a time: `(x - 0x01…01·n) & !x & 0x80…80` marks the bytes
/// of `x` below `n` (for `n ≤ 0x80`), exactly at the lowest such byte (a borrow only runs
/// upwards from a byte that is below `n` itself), so the lowest mark across the three tests
/// is the first byte to escape.
fn next_escape(text: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x;
    let mut at = from;
    // Whole blocks first, in a form the compiler turns into vector compares.
    while let Some(block) = text.get(at..at + 64) {
        let block: &[u8; 64] = block.try_into().expect("64 bytes");
        let special = block.iter().fold(false, |any, &b| {
            any | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if special {
            break;
        }
        at += 64;
    }
    while let Some(chunk) = text.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let marks = (below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1))
            & HIGHS;
        if marks != 0 {
            return at + (marks.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    text[at..]
        .iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        .map_or(text.len(), |i| at + i)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::{next_escape, write, Plain, BIG_BUFFER, LONG, PLAIN, PLAIN_RUN};

    /// Encodes with [`write`] and checks the bytes against `serde_json::to_vec`.
    /// `value` through the wrapped path (never skipped by [`Plain`]) writes what serde_json
    /// writes.
    fn same<T: Serialize + ?Sized>(value: &T) {
        let mut buf = Vec::with_capacity(BIG_BUFFER);
        buf.extend_from_slice(b"prefix ");
        PLAIN.set([(0, 0); 8]);
        write(&mut buf, value).expect("encodes");
        let expected = serde_json::to_vec(value).expect("serde_json encodes");
        assert_eq!(
            String::from_utf8_lossy(&buf[7..]),
            String::from_utf8_lossy(&expected)
        );
        assert_eq!(&buf[..7], b"prefix ", "what was in the buffer stays");
    }

    /// Strings of every length around the word size and [`LONG`], with each byte that needs
    /// escaping (and some that do not) at every position near either end.
    #[test]
    fn strings_escape_as_serde_json_does() {
        let specials: Vec<char> = (0u8..0x20)
            .map(char::from)
            .chain([
                '"', '\\', '/', '\u{7f}', 'é', '€', '𝄞', ' ', '!', '#', '[', ']',
            ])
            .collect();
        for len in (0..24).chain(LONG - 2..LONG + 20) {
            let positions = (0..len.min(20)).chain(len.saturating_sub(20).max(20)..len);
            for position in positions {
                for &special in &specials {
                    let text: String = (0..len)
                        .map(|i| if i == position { special } else { 'x' })
                        .collect();
                    same(&text);
                }
            }
        }
        let every_byte: String = (0u8..0x80).map(char::from).collect();
        same(&every_byte);
        same(&every_byte.repeat(300));
        same(&"x".repeat(1 << 20));
        // A clean run of whole blocks, then a byte to escape in, at or after a block edge.
        for position in [63, 64, 65, 127, 128, 200, 1000, 1099] {
            for special in ['"', '\\', '\n', '\u{1}', 'é'] {
                let mut text = "x".repeat(1100);
                text.replace_range(position..position + 1, &special.to_string());
                same(&text);
            }
        }
        same(&"\"\\\n".repeat(1000));
    }

    /// Pseudo-random strings (a fixed linear congruential sequence) over an alphabet rich
    /// in escapes and multi-byte characters.
    #[test]
    fn random_strings_escape_as_serde_json_does() {
        let alphabet = [
            'a', 'b', '"', '\\', '\n', '\u{1}', '\u{1f}', 'é', '€', '𝄞', ' ',
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (state >> 55) as usize;
            let text: String = (0..len)
                .map(|i| {
                    let pick = state.rotate_left(i as u32 * 7) as usize;
                    alphabet[pick % alphabet.len()]
                })
                .collect();
            same(&text);
        }
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Newtype(String),
        Tuple(String, u8),
        Struct { label: String, sizes: Vec<f64> },
    }

    /// An internally tagged enum: serde buffers the fields of `Wrapped`'s inner variant.
    #[derive(Serialize)]
    #[serde(tag = "kind")]
    enum Tagged {
        Wrapped(Shape),
        Inline { text: String },
    }

    /// Flattened enums: serde writes their variants as entries of the outer map.
    #[derive(Serialize)]
    struct Flattened {
        #[serde(flatten)]
        shape: Shape,
        text: String,
    }

    #[derive(Serialize)]
    struct Newtype(String);

    #[derive(Serialize)]
    struct Tuple(String, i64);

    #[derive(Serialize)]
    struct Everything {
        #[serde(rename = "type")]
        kind: &'static str,
        long: String,
        short: &'static str,
        none: Option<String>,
        some: Option<String>,
        shapes: Vec<Shape>,
        tagged: Vec<Tagged>,
        flattened: Vec<Flattened>,
        newtype: Newtype,
        tuple: Tuple,
        pair: (String, bool),
        map: BTreeMap<String, String>,
        numbered: BTreeMap<u32, String>,
        float: f64,
        nan: f64,
        bytes: serde_bytes_like::Bytes,
        unit: (),
        value: serde_json::Value,
    }

    /// Bytes serialized as `serialize_bytes`, without a dependency on serde_bytes.
    mod serde_bytes_like {
        pub struct Bytes(pub Vec<u8>);

        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
    }

    #[test]
    fn every_kind_of_value_encodes_as_serde_json_does() {
        let long = "a long string with \"quotes\", a \\ and a\nnewline ".repeat(LONG / 40 + 1);
        assert!(long.len() >= LONG);
        same(&Everything {
            kind: "Everything",
            long: long.clone(),
            short: "short \"q\"",
            none: None,
            some: Some(long.clone()),
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(long.clone()),
                Shape::Tuple(long.clone(), 7),
                Shape::Struct {
                    label: long.clone(),
                    sizes: vec![1.5, -0.0, 1e300],
                },
            ],
            tagged: vec![
                Tagged::Wrapped(Shape::Struct {
                    label: long.clone(),
                    sizes: vec![2.0],
                }),
                Tagged::Wrapped(Shape::Tuple(long.clone(), 1)),
                Tagged::Inline { text: long.clone() },
            ],
            flattened: vec![
                Flattened {
                    shape: Shape::Struct {
                        label: long.clone(),
                        sizes: vec![],
                    },
                    text: long.clone(),
                },
                Flattened {
                    shape: Shape::Newtype(long.clone()),
                    text: long.clone(),
                },
            ],
            newtype: Newtype(long.clone()),
            tuple: Tuple(long.clone(), -3),
            pair: (long.clone(), true),
            map: [(long.clone(), long.clone()), ("k".into(), "v".into())].into(),
            numbered: [(1, long.clone()), (20, "x".into())].into(),
            float: 0.1,
            nan: f64::NAN,
            bytes: serde_bytes_like::Bytes(vec![0, 1, 255]),
            unit: (),
            value: serde_json::json!({"nested": [long, {"deeper": "\u{0}\u{7f}".repeat(9)}]}),
        });
    }

    /// A type whose messages hold no long string goes to serde_json alone for a while, then
    /// is tried wrapped again; a type with long strings stays wrapped. The bytes are
    /// serde_json's either way.
    #[test]
    fn types_without_long_strings_skip_the_wrapping_for_a_while() {
        #[derive(Serialize)]
        struct Short {
            names: Vec<String>,
        }
        #[derive(Serialize)]
        struct Long {
            data: String,
        }
        let short = Short {
            names: vec!["a\"b".to_owned(); BIG_BUFFER / 4],
        };
        // A small message of short strings does not switch its type.
        let small = Short {
            names: vec!["c".to_owned(); 3],
        };
        let mut small_buf = Vec::with_capacity(BIG_BUFFER);
        write(&mut small_buf, &small).unwrap();
        assert_eq!(small_buf, serde_json::to_vec(&small).unwrap());
        assert!(PLAIN.get().iter().all(|(_, left)| *left == 0));
        let long = Long {
            data: "x\n".repeat(100),
        };
        let mut buf = Vec::with_capacity(BIG_BUFFER);
        let plain_left = |kind| {
            PLAIN
                .get()
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(0, |(_, left)| *left)
        };
        write(&mut buf, &short).unwrap();
        assert_eq!(buf, serde_json::to_vec(&short).unwrap());
        let kind = Plain::kind::<Short>();
        assert_eq!(plain_left(kind), PLAIN_RUN);
        for left in (0..PLAIN_RUN).rev() {
            buf.clear();
            write(&mut buf, &short).unwrap();
            assert_eq!(buf, serde_json::to_vec(&short).unwrap());
            assert_eq!(plain_left(kind), left);
        }
        // Tried wrapped again, and again none: another run.
        buf.clear();
        write(&mut buf, &short).unwrap();
        assert_eq!(plain_left(kind), PLAIN_RUN);
        for _ in 0..3 {
            buf.clear();
            write(&mut buf, &long).unwrap();
            assert_eq!(buf, serde_json::to_vec(&long).unwrap());
            assert_eq!(plain_left(Plain::kind::<Long>()), 0);
        }
    }

    /// serde_json's `RawValue` is written as it is, alone or inside a struct (the CLI's
    /// `publish` sends raw JSON through the same buffer).
    #[test]
    fn raw_json_is_written_as_it_is() {
        let json = format!(r#"{{"text": "{}", "n": 1}}"#, "x".repeat(LONG * 2));
        let raw = serde_json::value::RawValue::from_string(json).expect("valid JSON");
        same(&raw);

        #[derive(Serialize)]
        struct Holder<'a> {
            raw: &'a serde_json::value::RawValue,
            text: String,
        }
        same(&Holder {
            raw: &raw,
            text: "y".repeat(LONG),
        });
    }

    #[test]
    fn errors_are_serde_jsons() {
        let mut buf = Vec::with_capacity(BIG_BUFFER);
        let bad_keys: BTreeMap<(u8, u8), String> = [((1, 2), "x".repeat(20))].into();
        let ours = write(&mut buf, &bad_keys).unwrap_err();
        let theirs = serde_json::to_vec(&bad_keys).unwrap_err();
        assert_eq!(ours.to_string(), theirs.to_string());
    }

    #[test]
    fn the_scan_finds_the_first_byte_to_escape() {
        assert_eq!(next_escape(b"", 0), 0);
        assert_eq!(next_escape(b"abcdefghijklmnop", 0), 16);
        assert_eq!(next_escape(b"abcdefgh\"jklmnop", 0), 8);
        assert_eq!(next_escape(b"abc\x1f\"fgh\\", 0), 3);
        assert_eq!(next_escape(b"abc\x1f\"fgh\\", 4), 4);
        assert_eq!(next_escape(b"abc\x1f\"fgh\\", 5), 8);
        // Bytes of multi-byte characters are never below 0x20 nor equal to `"` or `\`.
        assert_eq!(next_escape("ééééé€€€𝄞\"".as_bytes(), 0), 23);
    }
}
