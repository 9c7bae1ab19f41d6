//! A ClientHello read from the first bytes of a connection, for the client inventory: the TLS
//! records that carry the handshake message (one or several), then the ClientHello's legacy
//! version, cipher suites and the extensions the inventory keeps: 0 server_name, 10
//! supported_groups, 13 signature_algorithms, 16 application_layer_protocol_negotiation and 43
//! supported_versions (RFC 8446 4.1.2, RFC 6066 3, RFC 7301 3.1).
//!
//! Pure and bounded: any bytes give an answer without panicking, a message longer than
//! [`MAX_HELLO`] is refused, each list keeps at most [`MAX_LIST`] values (ALPN: [`MAX_ALPN`] names),
//! names at most [`MAX_NAME`] bytes, and a cut list marks the hello `truncated`. GREASE values
//! (RFC 8701: `0A0A`, `1A1A`, … `FAFA`), which browsers draw afresh per connection, are left out so
//! one client keeps one profile. Names are kept printable: bytes outside `!`..`~` are written `\xNN`.

/// The longest ClientHello read (message bytes); the read-ahead stops there too.
pub const MAX_HELLO: usize = 16 * 1024;
/// The most values kept of each list (suites, groups, signature algorithms, versions).
pub const MAX_LIST: usize = 128;
/// The most ALPN protocol names kept.
pub const MAX_ALPN: usize = 16;
/// The most bytes kept of a server name or an ALPN protocol name.
pub const MAX_NAME: usize = 255;

/// The largest TLS record fragment (RFC 8446 5.1: 2^14 bytes).
const MAX_FRAGMENT: usize = 16 * 1024;

/// What the inventory keeps of one ClientHello.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientHello {
    /// `legacy_version` (`0303` from TLS 1.2 and 1.3 clients).
    pub legacy_version: u16,
    /// supported_versions, in the client's order; `None` when the extension is absent.
    pub versions: Option<Vec<u16>>,
    pub cipher_suites: Vec<u16>,
    /// supported_groups; `None` when absent.
    pub groups: Option<Vec<u16>>,
    /// signature_algorithms; `None` when absent.
    pub signature_algorithms: Option<Vec<u16>>,
    /// The first host_name of server_name; `None` when absent.
    pub server_name: Option<String>,
    /// The ALPN protocol names; `None` when absent.
    pub alpn: Option<Vec<String>>,
    /// A list or a name was longer than the inventory keeps.
    pub truncated: bool,
}

/// TLS 1.2 and 1.3 protocol version numbers.
pub const TLS12: u16 = 0x0303;
pub const TLS13: u16 = 0x0304;

impl ClientHello {
    /// The highest version offered: of supported_versions when present (the SSLv3 to TLS 1.3
    /// numbers; anything else only when nothing known is there), else `legacy_version`.
    pub fn highest_version(&self) -> u16 {
        let Some(versions) = &self.versions else { return self.legacy_version };
        let known = versions.iter().copied().filter(|v| (0x0300..=TLS13).contains(v)).max();
        known.or_else(|| versions.iter().copied().max()).unwrap_or(self.legacy_version)
    }

    /// Whether the client offers TLS 1.3 (only supported_versions can offer it).
    pub fn offers_tls13(&self) -> bool {
        self.versions.as_ref().is_some_and(|v| v.contains(&TLS13))
    }

    /// Whether the client offers TLS 1.2: in supported_versions, or without that extension a
    /// `legacy_version` of TLS 1.2 or above (what a TLS 1.2 server reads it as).
    pub fn offers_tls12(&self) -> bool {
        match &self.versions {
            Some(v) => v.contains(&TLS12),
            None => self.legacy_version >= TLS12,
        }
    }
}

/// What the bytes read so far are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A ClientHello may still come: read more (up to [`MAX_HELLO`]).
    Incomplete,
    Hello(ClientHello),
    /// Not a ClientHello this parser can read, and more bytes will not change that: why.
    Unusable(&'static str),
}

/// Reads a ClientHello from the first bytes of a connection (bytes after it are ignored).
pub fn parse(bytes: &[u8]) -> Parsed {
    match handshake_message(bytes) {
        Ok(Some(body)) => match client_hello(&body) {
            Some(hello) => Parsed::Hello(hello),
            None => Parsed::Unusable("malformed ClientHello"),
        },
        Ok(None) => Parsed::Incomplete,
        Err(why) => Parsed::Unusable(why),
    }
}

/// The first handshake message's body, once every record carrying it is there (`None`: not yet).
fn handshake_message(bytes: &[u8]) -> Result<Option<Vec<u8>>, &'static str> {
    let mut message = Vec::new();
    let mut rest = bytes;
    loop {
        match rest {
            [] => return Ok(None),
            [t, ..] if *t != 22 => return Err("not a TLS handshake record"),
            [_, major, ..] if *major != 3 => return Err("not a TLS record version"),
            _ => {}
        }
        let Some(header) = rest.get(..5) else { return Ok(None) };
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 || len > MAX_FRAGMENT + 256 {
            return Err("bad TLS record length");
        }
        let Some(fragment) = rest.get(5..5 + len) else {
            early_check(&message, &rest[5..])?;
            return Ok(None);
        };
        message.extend_from_slice(fragment);
        rest = &rest[5 + len..];
        early_check(&message, &[])?;
        if message.len() >= 4 {
            let body_len =
                usize::from(message[1]) << 16 | usize::from(message[2]) << 8 | usize::from(message[3]);
            if message.len() >= 4 + body_len {
                message.truncate(4 + body_len);
                message.drain(..4);
                return Ok(Some(message));
            }
        }
    }
}

/// Refuses as soon as the message type or length shows: not a ClientHello, or longer than kept.
fn early_check(message: &[u8], partial: &[u8]) -> Result<(), &'static str> {
    let mut head = message.iter().chain(partial).copied();
    match head.next() {
        None => return Ok(()),
        Some(1) => {}
        Some(_) => return Err("the first handshake message is not a ClientHello"),
    }
    let len: Vec<u8> = head.take(3).collect();
    if let [a, b, c] = len[..] {
        let body_len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
        if body_len + 4 > MAX_HELLO {
            return Err("ClientHello longer than 16 KiB");
        }
    }
    Ok(())
}

/// A cursor over bytes; every read is checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    /// A vector with a one-byte length.
    fn vec8(&mut self) -> Option<Reader<'a>> {
        let n = usize::from(self.u8()?);
        self.take(n).map(Reader)
    }
    /// A vector with a two-byte length.
    fn vec16(&mut self) -> Option<Reader<'a>> {
        let n = usize::from(self.u16()?);
        self.take(n).map(Reader)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn client_hello(body: &[u8]) -> Option<ClientHello> {
    let mut r = Reader(body);
    let mut hello = ClientHello { legacy_version: r.u16()?, ..ClientHello::default() };
    r.take(32)?; // random
    if r.vec8()?.0.len() > 32 {
        return None; // legacy_session_id
    }
    let suites = r.vec16()?;
    if suites.0.is_empty() {
        return None;
    }
    hello.cipher_suites = u16_list(suites, &mut hello.truncated)?;
    if r.vec8()?.is_empty() {
        return None; // legacy_compression_methods
    }
    if r.is_empty() {
        return Some(hello); // no extensions (an old client)
    }
    let mut extensions = r.vec16()?;
    if !r.is_empty() {
        return None;
    }
    while !extensions.is_empty() {
        let kind = extensions.u16()?;
        let data = extensions.vec16()?;
        extension(&mut hello, kind, data)?;
    }
    Some(hello)
}

/// Reads one extension the inventory keeps (the first of a repeated one counts).
fn extension(hello: &mut ClientHello, kind: u16, mut data: Reader<'_>) -> Option<()> {
    let t = &mut hello.truncated;
    match kind {
        0 if hello.server_name.is_none() => hello.server_name = Some(server_name(data.vec16()?, t)?),
        10 if hello.groups.is_none() => hello.groups = Some(u16_list(data.vec16()?, t)?),
        13 if hello.signature_algorithms.is_none() => {
            hello.signature_algorithms = Some(u16_list(data.vec16()?, t)?);
        }
        16 if hello.alpn.is_none() => hello.alpn = Some(alpn(data.vec16()?, t)?),
        43 if hello.versions.is_none() => hello.versions = Some(u16_list(data.vec8()?, t)?),
        _ => {}
    }
    Some(())
}

/// Whether `v` is a GREASE value (RFC 8701).
pub fn is_grease(v: u16) -> bool {
    v & 0x0F0F == 0x0A0A && v >> 12 == (v >> 4) & 0xF
}

/// A list of 2-byte values, GREASE left out, at most [`MAX_LIST`] kept.
fn u16_list(mut r: Reader<'_>, truncated: &mut bool) -> Option<Vec<u16>> {
    if r.0.len() % 2 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity((r.0.len() / 2).min(MAX_LIST));
    while !r.is_empty() {
        let v = r.u16()?;
        if is_grease(v) {
            continue;
        }
        if out.len() == MAX_LIST {
            *truncated = true;
            break;
        }
        out.push(v);
    }
    Some(out)
}

/// The first host_name of a server_name_list, in lower case and without a trailing dot (an empty
/// string when it holds none).
fn server_name(mut list: Reader<'_>, truncated: &mut bool) -> Option<String> {
    while !list.is_empty() {
        let kind = list.u8()?;
        let name = list.vec16()?;
        if kind == 0 {
            // Kept as rustls hands names on: lower case, without the trailing dot of an absolute
            // name (`Example.COM.` is `example.com`).
            let name = name.0.strip_suffix(b".").unwrap_or(name.0);
            return Some(printable(&name.to_ascii_lowercase(), truncated));
        }
    }
    Some(String::new())
}

/// The ALPN protocol names, at most [`MAX_ALPN`] kept.
fn alpn(mut list: Reader<'_>, truncated: &mut bool) -> Option<Vec<String>> {
    let mut out = Vec::new();
    while !list.is_empty() {
        let name = list.vec8()?;
        if name.is_empty() {
            return None;
        }
        if out.len() == MAX_ALPN {
            *truncated = true;
            break;
        }
        out.push(printable(name.0, truncated));
    }
    Some(out)
}

/// `bytes` as text: `!`..`~` as they are, anything else `\xNN`; at most [`MAX_NAME`] bytes read.
fn printable(bytes: &[u8], truncated: &mut bool) -> String {
    let kept = &bytes[..bytes.len().min(MAX_NAME)];
    *truncated |= kept.len() < bytes.len();
    let mut out = String::with_capacity(kept.len());
    for &b in kept {
        if (0x21..=0x7E).contains(&b) && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
