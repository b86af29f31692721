//! Schema-level reading on top of [`super::Reader`]: objects of known fields, arrays, maps,
//! enums and untagged values, each error tagged with the field path serde_path_to_error gave.
//!
//! The rule it reproduces: an error is reported at the innermost value being read when it
//! happened; a bad key is reported at `object.key` when the key was read (`unknown field`) and
//! at `object.?` when it was not (a syntax error); a missing `:`, a missing or duplicate field
//! and a bad separator belong to the enclosing object or array.

use super::read::{
    self as json, Content, EOF_LIST, EOF_OBJECT, EOF_VALUE, EXPECTED_VALUE, KEY_NOT_STRING, Num, Reader,
};

/// A reading error: where (once known) and what.
#[derive(Debug)]
pub(crate) struct Fail {
    pub path: Option<String>,
    pub message: String,
}

pub(crate) type Res<T> = Result<T, Fail>;

impl Fail {
    /// Places the error at `path` unless an inner value already placed it.
    pub fn at(mut self, path: &str) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_owned());
        }
        self
    }
}

/// A message placed at `path`.
pub(crate) fn fail(path: &str, message: impl Into<String>) -> Fail {
    Fail { path: Some(path.to_owned()), message: message.into() }
}

trait At<T> {
    fn at(self, path: &str) -> Res<T>;
}

impl<T> At<T> for Result<T, String> {
    fn at(self, path: &str) -> Res<T> {
        self.map_err(|m| fail(path, m))
    }
}

/// The document itself, as serde_path_to_error prints an empty path.
pub(crate) const ROOT: &str = ".";

/// `path.key`, or `key` at the top.
pub(crate) fn child(path: &str, key: &str) -> String {
    if path == ROOT { key.to_owned() } else { format!("{path}.{key}") }
}

/// `path[i]`, or `[i]` at the top.
fn index(path: &str, i: usize) -> String {
    if path == ROOT { format!("[{i}]") } else { format!("{path}[{i}]") }
}

/// serde's list of what was expected: "`a`", "`a` or `b`", "one of `a`, `b`, `c`".
fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        all => format!("one of {}", all.join(", ")),
    }
}

/// A field the schema lists but its reader has no arm for: a bug in the schema, reported as an
/// error rather than a panic (every field of every object is read by the configuration tests).
pub(crate) fn unhandled(path: &str) -> Fail {
    fail(path, "no reader for this field")
}

/// An object of known `fields` (a struct named `name`, fields in declaration order, at most 32),
/// each value handed to `value` with the field's name and path, so the caller matches fields by
/// name. `required` names the fields without a default. serde also reads a struct from an array
/// of its fields in order, so that form is accepted too.
#[inline(never)]
pub(crate) fn object(
    r: &mut Reader,
    path: &str,
    name: &str,
    fields: &[&str],
    required: &[&str],
    value: &mut dyn FnMut(&mut Reader, &str, &str) -> Res<()>,
) -> Res<()> {
    let required = fields.iter().enumerate().filter(|(_, f)| required.contains(f)).fold(0u32, |m, (i, _)| m | (1 << i));
    let array = match r.ws() {
        None => return Err(fail(path, EOF_VALUE)),
        Some(b'{') => false,
        Some(b'[') => true,
        Some(_) => return Err(fail(path, r.invalid_type(&format!("struct {name}")))),
    };
    r.enter().at(path)?;
    r.eat();
    if array {
        return fields_in_order(r, path, name, fields, required, value);
    }
    let mut seen = 0u32;
    let mut first = true;
    while let Some(key) = next_key(r, &mut first).at(&child(path, "?"))? {
        let here = child(path, &key);
        let Some(i) = fields.iter().position(|f| *f == key) else {
            return Err(fail(&here, format!("unknown field `{key}`, expected {}", one_of(fields))));
        };
        if seen & (1 << i) != 0 {
            return Err(fail(path, format!("duplicate field `{key}`")));
        }
        seen |= 1 << i;
        r.colon().at(path)?;
        value(r, &key, &here).map_err(|e| e.at(path))?;
    }
    r.leave();
    r.eat();
    match fields.iter().enumerate().find(|(i, _)| required & !seen & (1 << i) != 0) {
        Some((_, missing)) => Err(fail(path, format!("missing field `{missing}`"))),
        None => Ok(()),
    }
}

/// The array form of a struct, after its `[`.
fn fields_in_order(
    r: &mut Reader,
    path: &str,
    name: &str,
    fields: &[&str],
    required: u32,
    value: &mut dyn FnMut(&mut Reader, &str, &str) -> Res<()>,
) -> Res<()> {
    let count = fields.len();
    let mut first = true;
    for (i, field) in fields.iter().enumerate() {
        if next_element(r, &mut first).at(path)? {
            value(r, field, &index(path, i)).map_err(|e| e.at(path))?;
        } else if required & (1 << i) != 0 {
            return Err(fail(path, format!("invalid length {i}, expected struct {name} with {count} elements")));
        }
    }
    r.leave();
    match r.ws() {
        Some(b']') => {
            r.eat();
            Ok(())
        }
        Some(b',') => {
            r.eat();
            Err(fail(path, if r.ws() == Some(b']') { json::TRAILING_COMMA } else { "trailing characters" }))
        }
        Some(_) => Err(fail(path, "trailing characters")),
        None => Err(fail(path, EOF_LIST)),
    }
}

/// serde_json's "is there another key": `Ok(None)` at the closing brace.
fn next_key(r: &mut Reader, first: &mut bool) -> Result<Option<String>, String> {
    match r.ws() {
        None => return Err(EOF_OBJECT.into()),
        Some(b'}') => return Ok(None),
        Some(b) if *first => {
            *first = false;
            if b != b'"' {
                return Err(KEY_NOT_STRING.into());
            }
        }
        Some(b',') => {
            r.eat();
            match r.ws() {
                Some(b'"') => {}
                Some(b'}') => return Err(json::TRAILING_COMMA.into()),
                Some(_) => return Err(KEY_NOT_STRING.into()),
                None => return Err(EOF_VALUE.into()),
            }
        }
        Some(_) => return Err("expected `,` or `}`".into()),
    }
    r.eat();
    r.string().map(Some)
}

/// serde_json's "is there another element": false at the closing bracket.
fn next_element(r: &mut Reader, first: &mut bool) -> Result<bool, String> {
    match r.ws() {
        None => Err(EOF_LIST.into()),
        Some(b']') => Ok(false),
        Some(_) if *first => {
            *first = false;
            Ok(true)
        }
        Some(b',') => {
            r.eat();
            match r.ws() {
                Some(b']') => Err(json::TRAILING_COMMA.into()),
                Some(_) => Ok(true),
                None => Err(EOF_VALUE.into()),
            }
        }
        Some(_) => Err("expected `,` or `]`".into()),
    }
}

/// An array, each element read by `element` at `path[i]`.
pub(crate) fn seq<T>(r: &mut Reader, path: &str, mut element: impl FnMut(&mut Reader, &str) -> Res<T>) -> Res<Vec<T>> {
    let mut out = Vec::new();
    each(r, path, &mut |r, p| {
        out.push(element(r, p)?);
        Ok(())
    })?;
    Ok(out)
}

/// The array walk behind [`seq`], not generic so that it exists once in the module.
#[inline(never)]
fn each(r: &mut Reader, path: &str, element: &mut dyn FnMut(&mut Reader, &str) -> Res<()>) -> Res<()> {
    match r.ws() {
        None => return Err(fail(path, EOF_VALUE)),
        Some(b'[') => {}
        Some(_) => return Err(fail(path, r.invalid_type("a sequence"))),
    }
    r.enter().at(path)?;
    r.eat();
    let mut first = true;
    let mut i = 0;
    while next_element(r, &mut first).at(path)? {
        element(r, &index(path, i)).map_err(|e| e.at(path))?;
        i += 1;
    }
    r.leave();
    r.eat();
    Ok(())
}

/// An object of string values with any keys; a repeated key keeps its last value.
pub(crate) fn string_map(r: &mut Reader, path: &str) -> Res<std::collections::BTreeMap<String, String>> {
    match r.ws() {
        None => return Err(fail(path, EOF_VALUE)),
        Some(b'{') => {}
        Some(_) => return Err(fail(path, r.invalid_type("a map"))),
    }
    r.enter().at(path)?;
    r.eat();
    let mut out = std::collections::BTreeMap::new();
    let mut first = true;
    while let Some(key) = next_key(r, &mut first).at(&child(path, "?"))? {
        r.colon().at(path)?;
        let value = string(r, &child(path, &key))?;
        out.insert(key, value);
    }
    r.leave();
    r.eat();
    Ok(out)
}

pub(crate) fn string(r: &mut Reader, path: &str) -> Res<String> {
    match r.ws() {
        None => Err(fail(path, EOF_VALUE)),
        Some(b'"') => {
            r.eat();
            r.string().at(path)
        }
        Some(_) => Err(fail(path, r.invalid_type("a string"))),
    }
}

pub(crate) fn boolean(r: &mut Reader, path: &str) -> Res<bool> {
    let (rest, value): (&[u8], bool) = match r.ws() {
        None => return Err(fail(path, EOF_VALUE)),
        Some(b't') => (b"rue", true),
        Some(b'f') => (b"alse", false),
        Some(_) => return Err(fail(path, r.invalid_type("a boolean"))),
    };
    r.eat();
    r.ident(rest).at(path)?;
    Ok(value)
}

fn number(r: &mut Reader, path: &str, expected: &str) -> Res<Num> {
    match r.ws() {
        None => Err(fail(path, EOF_VALUE)),
        Some(b'-' | b'0'..=b'9') => r.number().at(path),
        Some(_) => Err(fail(path, r.invalid_type(expected))),
    }
}

pub(crate) fn float(r: &mut Reader, path: &str) -> Res<f64> {
    Ok(as_f64(number(r, path, "f64")?))
}

fn as_f64(n: Num) -> f64 {
    match n {
        Num::U(u) => u as f64,
        Num::I(i) => i as f64,
        Num::F(f) => f,
    }
}

/// An unsigned integer of the type serde calls `name`, at most `max`.
fn unsigned(r: &mut Reader, path: &str, name: &str, max: u64) -> Res<u64> {
    match number(r, path, name)? {
        Num::U(u) if u <= max => Ok(u),
        Num::F(f) => Err(fail(path, format!("invalid type: {}, expected {name}", json::unexpected_number(Num::F(f))))),
        n => Err(fail(path, format!("invalid value: {}, expected {name}", json::unexpected_number(n)))),
    }
}

pub(crate) fn u16_(r: &mut Reader, path: &str) -> Res<u16> {
    unsigned(r, path, "u16", u16::MAX.into()).map(|v| u16::try_from(v).unwrap_or(u16::MAX))
}

pub(crate) fn u32_(r: &mut Reader, path: &str) -> Res<u32> {
    unsigned(r, path, "u32", u32::MAX.into()).map(|v| u32::try_from(v).unwrap_or(u32::MAX))
}

pub(crate) fn usize_(r: &mut Reader, path: &str) -> Res<usize> {
    let max = u64::try_from(usize::MAX).unwrap_or(u64::MAX);
    unsigned(r, path, "usize", max).map(|v| usize::try_from(v).unwrap_or(usize::MAX))
}

/// `null` is `None`; anything else is read by `some`.
pub(crate) fn option<T>(r: &mut Reader, path: &str, some: impl FnOnce(&mut Reader, &str) -> Res<T>) -> Res<Option<T>> {
    if r.ws() == Some(b'n') {
        r.eat();
        r.ident(b"ull").at(path)?;
        return Ok(None);
    }
    some(r, path).map(Some)
}

/// The variant of an externally tagged enum: `"name"` or `{"name": value}` (then `true`).
fn open_variant(r: &mut Reader, path: &str, variants: &[&str]) -> Res<(usize, bool)> {
    let braced = match r.ws() {
        None => return Err(fail(path, EOF_VALUE)),
        Some(b'"') => false,
        Some(b'{') => {
            r.enter().at(path)?;
            r.eat();
            match r.ws() {
                Some(b'"') => true,
                Some(b'}') => return Err(fail(path, EXPECTED_VALUE)),
                Some(_) => return Err(fail(path, KEY_NOT_STRING)),
                None => return Err(fail(path, EOF_OBJECT)),
            }
        }
        Some(_) => return Err(fail(path, EXPECTED_VALUE)),
    };
    r.eat();
    let name = r.string().at(path)?;
    let Some(i) = variants.iter().position(|v| *v == name) else {
        return Err(fail(path, format!("unknown variant `{name}`, expected {}", one_of(variants))));
    };
    if braced {
        r.colon().at(path)?;
    }
    Ok((i, braced))
}

fn close_variant(r: &mut Reader, path: &str) -> Res<()> {
    r.leave();
    match r.ws() {
        Some(b'}') => {
            r.eat();
            Ok(())
        }
        Some(_) => Err(fail(path, EXPECTED_VALUE)),
        None => Err(fail(path, EOF_OBJECT)),
    }
}

/// An enum whose variants carry nothing, each variant's name with its value; `{"name": null}` is
/// accepted as serde_json does.
pub(crate) fn unit_variant<T: Copy>(r: &mut Reader, path: &str, variants: &[(&str, T)]) -> Res<T> {
    let names: Vec<&str> = variants.iter().map(|(name, _)| *name).collect();
    let i = unit_variant_index(r, path, &names)?;
    variants.get(i).map(|(_, v)| *v).ok_or_else(|| unhandled(path))
}

/// [`unit_variant`] without the values, not generic so that it exists once in the module.
fn unit_variant_index(r: &mut Reader, path: &str, variants: &[&str]) -> Res<usize> {
    let (i, braced) = open_variant(r, path, variants)?;
    if braced {
        let here = child(path, variants.get(i).copied().unwrap_or_default());
        match r.ws() {
            None => return Err(fail(&here, EOF_VALUE)),
            Some(b'n') => {
                r.eat();
                r.ident(b"ull").at(&here)?;
            }
            Some(_) => return Err(fail(&here, r.invalid_type("unit"))),
        }
        close_variant(r, path)?;
    }
    Ok(i)
}

/// An enum whose variants each carry one value, read by `value`, given the variant's name, at
/// `path.name`.
pub(crate) fn newtype_variant<T>(
    r: &mut Reader,
    path: &str,
    variants: &[&str],
    value: &mut dyn FnMut(&mut Reader, &str, &str) -> Res<T>,
) -> Res<T> {
    let (i, braced) = open_variant(r, path, variants)?;
    let variant = variants.get(i).copied().unwrap_or_default();
    let here = child(path, variant);
    if !braced {
        return Err(fail(&here, "invalid type: unit variant, expected newtype variant"));
    }
    let v = value(r, variant, &here)?;
    close_variant(r, path)?;
    Ok(v)
}

/// Any value, for the untagged fields.
pub(crate) fn content(r: &mut Reader, path: &str) -> Res<Content> {
    let (rest, value): (&[u8], Content) = match r.ws() {
        None => return Err(fail(path, EOF_VALUE)),
        Some(b'n') => (b"ull", Content::Null),
        Some(b't') => (b"rue", Content::Bool(true)),
        Some(b'f') => (b"alse", Content::Bool(false)),
        Some(b'-' | b'0'..=b'9') => return r.number().at(path).map(Content::Num),
        Some(b'"') => {
            r.eat();
            return r.string().at(path).map(Content::Str);
        }
        Some(b'[') => {
            let mut items = Vec::new();
            each(r, path, &mut |r, p| {
                items.push(content(r, p)?);
                Ok(())
            })?;
            return Ok(Content::Seq(items));
        }
        Some(b'{') => return content_map(r, path),
        Some(_) => return Err(fail(path, EXPECTED_VALUE)),
    };
    r.eat();
    r.ident(rest).at(path)?;
    Ok(value)
}

fn content_map(r: &mut Reader, path: &str) -> Res<Content> {
    r.enter().at(path)?;
    r.eat();
    let mut out = Vec::new();
    let mut first = true;
    while let Some(key) = next_key(r, &mut first).at(&child(path, "?"))? {
        r.colon().at(path)?;
        let value = content(r, &child(path, &key))?;
        out.push((key, value));
    }
    r.leave();
    r.eat();
    Ok(Content::Map(out))
}

/// The number of an untagged value, as serde reads an `f64` from buffered content.
pub(crate) fn content_f64(c: &Content) -> Option<f64> {
    match c {
        Content::Num(n) => Some(as_f64(*n)),
        _ => None,
    }
}
