//! A pull reader of JSON text, driven by a schema ([`super::schema`], and the configuration's in
//! `config/parse.rs`).
//!
//! The configuration used to be read with serde_json behind serde_path_to_error; their
//! monomorphised deserializers were more than half of the module's code. This reader takes the
//! same decisions byte for byte (the same documents accepted, the same number values, the same
//! error messages), so users see no difference: numbers follow serde_json's default (not
//! `float_roundtrip`) algorithm and messages are serde_json's without the position suffix.

use std::fmt::Write as _;

/// How deeply objects and arrays may nest, as in serde_json.
const MAX_DEPTH: u32 = 128;

/// A number as serde_json classifies it: non-negative integer, negative integer, or float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    U(u64),
    I(i64),
    F(f64),
}

/// A value read without a schema, for the untagged fields (a string or a number, a string or a
/// rename object).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Content {
    Null,
    Bool(bool),
    Num(Num),
    Str(String),
    Seq(Vec<Content>),
    Map(Vec<(String, Content)>),
}

/// The reader: the text and the position in it.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    text: &'a [u8],
    pos: usize,
    depth: u32,
}

pub(crate) const EOF_VALUE: &str = "EOF while parsing a value";
pub(crate) const EOF_OBJECT: &str = "EOF while parsing an object";
pub(crate) const EOF_LIST: &str = "EOF while parsing a list";
const EOF_STRING: &str = "EOF while parsing a string";
pub(crate) const EXPECTED_VALUE: &str = "expected value";
pub(crate) const KEY_NOT_STRING: &str = "key must be a string";
pub(crate) const TRAILING_COMMA: &str = "trailing comma";
const INVALID_NUMBER: &str = "invalid number";
const OUT_OF_RANGE: &str = "number out of range";
const INVALID_ESCAPE: &str = "invalid escape";

impl<'a> Reader<'a> {
    pub fn new(text: &'a [u8]) -> Self {
        Self { text, pos: 0, depth: MAX_DEPTH }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek();
        if b.is_some() {
            self.pos += 1;
        }
        b
    }

    pub fn eat(&mut self) {
        self.pos += 1;
    }

    /// Skips whitespace and peeks at the next byte.
    pub fn ws(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
        self.peek()
    }

    /// Enters an object or array (the caller eats the bracket after this succeeds).
    pub fn enter(&mut self) -> Result<(), String> {
        self.depth -= 1;
        if self.depth == 0 {
            return Err("recursion limit exceeded".into());
        }
        Ok(())
    }

    pub fn leave(&mut self) {
        self.depth += 1;
    }

    /// The rest of `null`, `true` or `false`, the first byte already eaten.
    pub fn ident(&mut self, rest: &[u8]) -> Result<(), String> {
        for expected in rest {
            match self.next() {
                None => return Err(EOF_VALUE.into()),
                Some(b) if b != *expected => return Err("expected ident".into()),
                Some(_) => {}
            }
        }
        Ok(())
    }

    pub fn colon(&mut self) -> Result<(), String> {
        match self.ws() {
            Some(b':') => {
                self.eat();
                Ok(())
            }
            Some(_) => Err("expected `:`".into()),
            None => Err(EOF_OBJECT.into()),
        }
    }

    /// A string, the opening quote already eaten.
    pub fn string(&mut self) -> Result<String, String> {
        let mut out = Vec::new();
        loop {
            match self.next() {
                None => return Err(EOF_STRING.into()),
                Some(b'"') => break,
                Some(b'\\') => self.escape(&mut out)?,
                Some(b) if b < 0x20 => {
                    return Err("control character (\\u0000-\\u001F) found while parsing a string".into());
                }
                Some(b) => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| "invalid unicode code point".into())
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let byte = match self.next().ok_or(EOF_STRING)? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => return self.unicode_escape(out),
            _ => return Err(INVALID_ESCAPE.into()),
        };
        out.push(byte);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let Some(digits) = self.text.get(self.pos..self.pos + 4) else {
            self.pos = self.text.len();
            return Err(EOF_STRING.into());
        };
        self.pos += 4;
        let mut n = 0;
        for d in digits {
            n = n * 16 + char::from(*d).to_digit(16).ok_or(INVALID_ESCAPE)?;
        }
        Ok(n)
    }

    /// `\uXXXX`, with surrogate pairs, validated as serde_json does.
    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let lone = || String::from("lone leading surrogate in hex escape");
        let n = self.hex4()?;
        let code = match n {
            0xDC00..=0xDFFF => return Err(lone()),
            0xD800..=0xDBFF => {
                if self.peek().ok_or(EOF_STRING)? != b'\\' {
                    self.eat();
                    return Err("unexpected end of hex escape".into());
                }
                self.eat();
                if self.peek().ok_or(EOF_STRING)? != b'u' {
                    self.eat();
                    return Err("unexpected end of hex escape".into());
                }
                self.eat();
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(lone());
                }
                (((n - 0xD800) << 10) | (low - 0xDC00)) + 0x1_0000
            }
            n => n,
        };
        let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }

    /// A number, at its `-` or first digit.
    pub fn number(&mut self) -> Result<Num, String> {
        let positive = self.peek() != Some(b'-');
        if !positive {
            self.eat();
        }
        let first = self.next().ok_or(EOF_VALUE)?;
        let mut significand = match first {
            b'0' if self.peek().is_some_and(|b| b.is_ascii_digit()) => return Err(INVALID_NUMBER.into()),
            b'0'..=b'9' => u64::from(first - b'0'),
            _ => return Err(INVALID_NUMBER.into()),
        };
        let mut exponent = 0i32;
        let mut overflowed = false;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            self.eat();
            match significand.checked_mul(10).and_then(|s| s.checked_add(u64::from(d - b'0'))) {
                Some(s) if !overflowed => significand = s,
                // Past 20 digits serde_json keeps the leading digits and counts the rest.
                _ => {
                    overflowed = true;
                    exponent += 1;
                }
            }
        }
        let integer = !matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        if integer && !overflowed {
            return Ok(match (positive, 0i64.checked_sub_unsigned(significand)) {
                (true, _) => Num::U(significand),
                (false, Some(neg)) if neg < 0 => Num::I(neg),
                // `-0` and integers below i64::MIN are floats.
                (false, _) => Num::F(-(significand as f64)),
            });
        }
        if self.peek() == Some(b'.') {
            self.eat();
            let mut digits = 0;
            // Past the u64 significand, serde_json ignores the remaining fraction digits.
            let mut ignoring = false;
            while let Some(d @ b'0'..=b'9') = self.peek() {
                self.eat();
                digits += 1;
                if ignoring {
                    continue;
                }
                match significand.checked_mul(10).and_then(|s| s.checked_add(u64::from(d - b'0'))) {
                    Some(s) => {
                        significand = s;
                        exponent -= 1;
                    }
                    None => ignoring = true,
                }
            }
            if digits == 0 {
                return Err(if self.peek().is_some() { INVALID_NUMBER } else { EOF_VALUE }.into());
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.eat();
            let positive_exp = match self.peek() {
                Some(b'-') => {
                    self.eat();
                    false
                }
                Some(b'+') => {
                    self.eat();
                    true
                }
                _ => true,
            };
            let first = self.next().ok_or(EOF_VALUE)?;
            let mut exp = match first {
                b'0'..=b'9' => i32::from(first - b'0'),
                _ => return Err(INVALID_NUMBER.into()),
            };
            while let Some(d @ b'0'..=b'9') = self.peek() {
                self.eat();
                match exp.checked_mul(10).and_then(|e| e.checked_add(i32::from(d - b'0'))) {
                    Some(e) => exp = e,
                    None => {
                        if significand != 0 && positive_exp {
                            return Err(OUT_OF_RANGE.into());
                        }
                        while let Some(b'0'..=b'9') = self.peek() {
                            self.eat();
                        }
                        return Ok(Num::F(if positive { 0.0 } else { -0.0 }));
                    }
                }
            }
            exponent = if positive_exp { exponent.saturating_add(exp) } else { exponent.saturating_sub(exp) };
        }
        from_parts(positive, significand, exponent).map(Num::F)
    }

    /// serde_json's `peek_invalid_type`: what the value here is, for an "invalid type" message,
    /// or the syntax error met while reading it.
    pub fn invalid_type(&mut self, expected: &str) -> String {
        let unexpected = match self.peek() {
            Some(b'n') => {
                self.eat();
                self.ident(b"ull").map(|()| "null".to_owned())
            }
            Some(b't') => {
                self.eat();
                self.ident(b"rue").map(|()| "boolean `true`".to_owned())
            }
            Some(b'f') => {
                self.eat();
                self.ident(b"alse").map(|()| "boolean `false`".to_owned())
            }
            Some(b'-' | b'0'..=b'9') => self.number().map(unexpected_number),
            Some(b'"') => {
                self.eat();
                self.string().map(|s| format!("string {s:?}"))
            }
            Some(b'[') => Ok("sequence".to_owned()),
            Some(b'{') => Ok("map".to_owned()),
            _ => Err(EXPECTED_VALUE.to_owned()),
        };
        match unexpected {
            Ok(u) => format!("invalid type: {u}, expected {expected}"),
            Err(e) => e,
        }
    }
}

/// How serde_json names a number in an "invalid type" message.
pub(crate) fn unexpected_number(n: Num) -> String {
    let mut s = String::new();
    let _ = match n {
        Num::U(u) => write!(s, "integer `{u}`"),
        Num::I(i) => write!(s, "integer `{i}`"),
        Num::F(f) => {
            let mut digits = format!("{f:?}");
            // serde_json's float printer writes a positive exponent with its sign (`1e+20`).
            if let Some(i) = digits.find('e').filter(|i| digits.as_bytes().get(i + 1) != Some(&b'-')) {
                digits.insert(i + 1, '+');
            }
            write!(s, "floating point `{digits}`")
        }
    };
    s
}

/// serde_json's float assembly: exact when the significand and the power of ten are both exact
/// in an f64, which covers every number a configuration holds.
fn from_parts(positive: bool, significand: u64, mut exponent: i32) -> Result<f64, String> {
    let mut f = significand as f64;
    loop {
        match pow10(exponent.unsigned_abs()) {
            Some(pow) => {
                if exponent >= 0 {
                    f *= pow;
                    if f.is_infinite() {
                        return Err(OUT_OF_RANGE.into());
                    }
                } else {
                    f /= pow;
                }
                break;
            }
            None => {
                if f == 0.0 {
                    break;
                }
                if exponent >= 0 {
                    return Err(OUT_OF_RANGE.into());
                }
                f /= 1e308;
                exponent += 308;
            }
        }
    }
    Ok(if positive { f } else { -f })
}

/// serde_json's table of `10^n` (the nearest doubles, as the literals `1eN` are).
static POW10: [f64; 309] = [
    1e000, 1e001, 1e002, 1e003, 1e004, 1e005, 1e006, 1e007, 1e008, 1e009, 1e010, 1e011, 1e012, 1e013, 1e014, 1e015,
    1e016, 1e017, 1e018, 1e019, 1e020, 1e021, 1e022, 1e023, 1e024, 1e025, 1e026, 1e027, 1e028, 1e029, 1e030, 1e031,
    1e032, 1e033, 1e034, 1e035, 1e036, 1e037, 1e038, 1e039, 1e040, 1e041, 1e042, 1e043, 1e044, 1e045, 1e046, 1e047,
    1e048, 1e049, 1e050, 1e051, 1e052, 1e053, 1e054, 1e055, 1e056, 1e057, 1e058, 1e059, 1e060, 1e061, 1e062, 1e063,
    1e064, 1e065, 1e066, 1e067, 1e068, 1e069, 1e070, 1e071, 1e072, 1e073, 1e074, 1e075, 1e076, 1e077, 1e078, 1e079,
    1e080, 1e081, 1e082, 1e083, 1e084, 1e085, 1e086, 1e087, 1e088, 1e089, 1e090, 1e091, 1e092, 1e093, 1e094, 1e095,
    1e096, 1e097, 1e098, 1e099, 1e100, 1e101, 1e102, 1e103, 1e104, 1e105, 1e106, 1e107, 1e108, 1e109, 1e110, 1e111,
    1e112, 1e113, 1e114, 1e115, 1e116, 1e117, 1e118, 1e119, 1e120, 1e121, 1e122, 1e123, 1e124, 1e125, 1e126, 1e127,
    1e128, 1e129, 1e130, 1e131, 1e132, 1e133, 1e134, 1e135, 1e136, 1e137, 1e138, 1e139, 1e140, 1e141, 1e142, 1e143,
    1e144, 1e145, 1e146, 1e147, 1e148, 1e149, 1e150, 1e151, 1e152, 1e153, 1e154, 1e155, 1e156, 1e157, 1e158, 1e159,
    1e160, 1e161, 1e162, 1e163, 1e164, 1e165, 1e166, 1e167, 1e168, 1e169, 1e170, 1e171, 1e172, 1e173, 1e174, 1e175,
    1e176, 1e177, 1e178, 1e179, 1e180, 1e181, 1e182, 1e183, 1e184, 1e185, 1e186, 1e187, 1e188, 1e189, 1e190, 1e191,
    1e192, 1e193, 1e194, 1e195, 1e196, 1e197, 1e198, 1e199, 1e200, 1e201, 1e202, 1e203, 1e204, 1e205, 1e206, 1e207,
    1e208, 1e209, 1e210, 1e211, 1e212, 1e213, 1e214, 1e215, 1e216, 1e217, 1e218, 1e219, 1e220, 1e221, 1e222, 1e223,
    1e224, 1e225, 1e226, 1e227, 1e228, 1e229, 1e230, 1e231, 1e232, 1e233, 1e234, 1e235, 1e236, 1e237, 1e238, 1e239,
    1e240, 1e241, 1e242, 1e243, 1e244, 1e245, 1e246, 1e247, 1e248, 1e249, 1e250, 1e251, 1e252, 1e253, 1e254, 1e255,
    1e256, 1e257, 1e258, 1e259, 1e260, 1e261, 1e262, 1e263, 1e264, 1e265, 1e266, 1e267, 1e268, 1e269, 1e270, 1e271,
    1e272, 1e273, 1e274, 1e275, 1e276, 1e277, 1e278, 1e279, 1e280, 1e281, 1e282, 1e283, 1e284, 1e285, 1e286, 1e287,
    1e288, 1e289, 1e290, 1e291, 1e292, 1e293, 1e294, 1e295, 1e296, 1e297, 1e298, 1e299, 1e300, 1e301, 1e302, 1e303,
    1e304, 1e305, 1e306, 1e307, 1e308,
];

fn pow10(n: u32) -> Option<f64> {
    POW10.get(usize::try_from(n).ok()?).copied()
}
