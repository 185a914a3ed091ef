//! The JSON writer of the built-in formats: a `serde::Serializer` that writes into the one body
//! buffer, with serde_json's output byte for byte.
//!
//! Hand-written because it is what makes rendering cheap: serde_json escapes strings byte by
//! byte, while an error's strings (codes, messages, ids, keys) almost never need an escape, so
//! each is checked in one vectorized pass and copied whole. A string that does need escaping,
//! and every float, is written by serde_json itself.

use std::fmt;

use serde::ser::{self, Serialize};

/// Writes `value` as JSON into `out`.
pub(crate) fn write<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Only the crate's own types are written, and each of their shapes is supported.
    let _ = value.serialize(Writer { out });
}

/// Writes the concatenation of `parts` as one JSON string.
pub(crate) fn string_of(out: &mut Vec<u8>, parts: &[&str]) {
    if parts.iter().any(|p| needs_escape(p.as_bytes())) {
        escaped(out, &parts.concat());
        return;
    }
    out.push(b'"');
    for part in parts {
        out.extend_from_slice(part.as_bytes());
    }
    out.push(b'"');
}

/// Writes one of the crate's own texts (a kind's slug, name or description, a status's reason
/// phrase, a built-in format's default message), which never needs an escape, as a JSON string.
/// The tests check every such text.
pub(crate) fn trusted(out: &mut Vec<u8>, s: &'static str) {
    debug_assert!(!needs_escape(s.as_bytes()), "{s:?} needs escaping");
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// Writes `n` as a JSON number.
pub(crate) fn integer(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Writes `s` as a JSON string.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        escaped(out, s);
    }
}

/// Writes `s`, which needs escaping, as serde_json does.
#[cold]
#[inline(never)]
fn escaped(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(out, s);
}

/// Whether `bytes` holds a control character, `"` or `\\`.
fn needs_escape(bytes: &[u8]) -> bool {
    use crate::ascii::{any, below, equal};
    any(
        bytes,
        |x| below(x, 0x20) | equal(x, b'"') | equal(x, b'\\'),
        |b| b < 0x20 || b == b'"' || b == b'\\',
    )
}

/// Never raised by the crate's types; required by serde.
#[derive(Debug)]
pub(crate) struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unsupported JSON shape")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unsupported
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

/// A JSON array or object being written.
struct Compound<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    close: u8,
}

impl Compound<'_> {
    fn separator(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
    }

    /// A struct field's name: a Rust identifier (or a serde rename in this crate), which never
    /// needs an escape.
    fn field(&mut self, key: &'static str) {
        self.separator();
        self.out.reserve(key.len() + 3);
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }
}

macro_rules! integers {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method(self, v: $ty) -> Result<(), Unsupported> {
            self.out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
            Ok(())
        }
    )*};
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = ser::Impossible<(), Unsupported>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = ser::Impossible<(), Unsupported>;

    fn serialize_bool(self, v: bool) -> Result<(), Unsupported> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    integers!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64
    );

    fn serialize_f32(self, v: f32) -> Result<(), Unsupported> {
        serde_json::to_writer(self.out, &v).map_err(|_| Unsupported)
    }

    fn serialize_f64(self, v: f64) -> Result<(), Unsupported> {
        serde_json::to_writer(self.out, &v).map_err(|_| Unsupported)
    }

    fn serialize_char(self, v: char) -> Result<(), Unsupported> {
        string(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
        string(self.out, v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Unsupported> {
        serde_json::to_writer(self.out, v).map_err(|_| Unsupported)
    }

    fn serialize_none(self) -> Result<(), Unsupported> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Unsupported> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unsupported> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.out.push(b'{');
        string(self.out, variant);
        self.out.push(b':');
        value.serialize(Writer { out: self.out })?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Unsupported> {
        self.out.push(b'[');
        Ok(Compound {
            out: self.out,
            first: true,
            close: b']',
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(Unsupported)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Unsupported> {
        self.out.push(b'{');
        Ok(Compound {
            out: self.out,
            first: true,
            close: b'}',
        })
    }

    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Compound<'a>, Unsupported> {
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(Unsupported)
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.separator();
        value.serialize(Writer { out: self.out })
    }

    fn end(self) -> Result<(), Unsupported> {
        self.out.push(self.close);
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Unsupported> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Unsupported> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    /// The crate's maps (`serde_json::Value` objects) have string keys, written as strings.
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        self.separator();
        key.serialize(Writer { out: self.out })?;
        self.out.push(b':');
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        value.serialize(Writer { out: self.out })
    }

    fn end(self) -> Result<(), Unsupported> {
        self.out.push(self.close);
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.field(key);
        value.serialize(Writer { out: self.out })
    }

    fn end(self) -> Result<(), Unsupported> {
        ser::SerializeMap::end(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crates_own_texts_need_no_escape() {
        use crate::error::ErrorKind;
        use crate::format::{Defender, Format, Problem};
        for &kind in ErrorKind::ALL {
            let status = kind.status();
            for text in [
                kind.slug(),
                kind.name(),
                kind.description(),
                status.canonical_reason().unwrap_or_default(),
                Defender::code(kind),
                Defender.default_message(kind),
                Problem::new().default_message(kind),
            ] {
                assert!(!needs_escape(text.as_bytes()), "{text:?}");
            }
        }
        for code in 100..1000 {
            let reason = http::StatusCode::from_u16(code).unwrap().canonical_reason();
            assert!(!needs_escape(reason.unwrap_or_default().as_bytes()));
        }
    }

    #[test]
    fn finds_every_byte_that_needs_an_escape() {
        for len in 0..24 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    let expected = b < 0x20 || b == b'"' || b == b'\\';
                    assert_eq!(needs_escape(&bytes), expected, "{len} {at} {b:#04x}");
                }
            }
        }
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let values = [
            serde_json::json!({"a": "plain", "b": "q\"uo\\te\n\u{1}\u{7f}é", "c": [1, -2, 3.5, true, null]}),
            serde_json::json!({"nested": {"empty": {}, "list": [], "x": u64::MAX, "y": i64::MIN}}),
            serde_json::json!(["", "/", "\u{2028}", 0.1, 1e300]),
        ];
        for value in values {
            let mut ours = Vec::new();
            write(&value, &mut ours);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&value).unwrap()
            );
        }
        #[derive(serde::Serialize)]
        struct S<'a> {
            code: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<u8>,
            n: Option<u16>,
            list: Vec<&'a str>,
        }
        let s = S {
            code: "Unauthorized",
            skipped: None,
            n: Some(401),
            list: vec!["a\tb", "c"],
        };
        let mut ours = Vec::new();
        write(&s, &mut ours);
        assert_eq!(ours, serde_json::to_vec(&s).unwrap());
    }
}
