//! The little DER the OCSP messages need, read and written by hand: one-byte tags, definite
//! lengths of at most four bytes, and nothing read past the input (every length is checked against
//! what is left, so no byte string, however malformed, can make a read panic or allocate).

/// `SEQUENCE`.
pub const SEQUENCE: u8 = 0x30;
/// `OCTET STRING`.
pub const OCTET_STRING: u8 = 0x04;
/// `INTEGER`.
pub const INTEGER: u8 = 0x02;
/// `OBJECT IDENTIFIER`.
pub const OID: u8 = 0x06;
/// `ENUMERATED`.
pub const ENUMERATED: u8 = 0x0a;
/// `BIT STRING`.
pub const BIT_STRING: u8 = 0x03;
/// `GeneralizedTime`.
pub const GENERALIZED_TIME: u8 = 0x18;
/// `NULL`.
pub const NULL: u8 = 0x05;

/// One element: its tag, its contents, and the whole encoding.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

/// The first element of `input`, and what follows it.
pub fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), String> {
    let bad = |what: &str| format!("malformed DER: {what}");
    let (&tag, rest) = input.split_first().ok_or_else(|| bad("no element left"))?;
    if tag & 0x1f == 0x1f {
        return Err(bad("a multi-byte tag"));
    }
    let (&first, rest) = rest.split_first().ok_or_else(|| bad("no length"))?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad("a length that is indefinite, too long or cut short"));
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(bad("an element longer than its input"));
    }
    let header = input.len() - rest.len();
    Ok((Tlv { tag, value: &rest[..len], raw: &input[..header + len] }, &rest[len..]))
}

/// The contents of the first element of `input`, which must have tag `tag`, and what follows.
pub fn expect(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), String> {
    let (tlv, rest) = read(input)?;
    if tlv.tag != tag {
        return Err(format!("malformed DER: tag {:#04x} where {tag:#04x} was expected", tlv.tag));
    }
    Ok((tlv.value, rest))
}

/// The first element of `input` when its tag is `tag` (an OPTIONAL field), and what follows.
pub fn optional(input: &[u8], tag: u8) -> Result<(Option<&[u8]>, &[u8]), String> {
    match input.first() {
        Some(&t) if t == tag => expect(input, tag).map(|(v, rest)| (Some(v), rest)),
        _ => Ok((None, input)),
    }
}

/// The elements of a SEQUENCE OF's contents.
pub fn elements(mut input: &[u8]) -> Result<Vec<Tlv<'_>>, String> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (tlv, rest) = read(input)?;
        out.push(tlv);
        input = rest;
    }
    Ok(out)
}

/// The encoding of an element with tag `tag` and contents `value`.
pub fn encode(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// The encoding of a SEQUENCE of the already encoded `parts`.
pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    encode(SEQUENCE, &parts.concat())
}

/// A signed structure (a certificate, a BasicOCSPResponse): the signed bytes, the contents of
/// the signature's AlgorithmIdentifier, the signature's bits, and the fields after them.
pub struct Signed<'a> {
    pub signed: &'a [u8],
    pub algorithm: &'a [u8],
    pub signature: &'a [u8],
    pub rest: &'a [u8],
}

/// `SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING, … }`.
pub fn signed(der: &[u8]) -> Result<Signed<'_>, String> {
    let (outer, _) = expect(der, SEQUENCE)?;
    let (tbs, rest) = read(outer)?;
    let (algorithm, rest) = expect(rest, SEQUENCE)?;
    let (bits, rest) = expect(rest, BIT_STRING)?;
    let signature = match bits.split_first() {
        Some((0, sig)) => sig,
        _ => return Err("malformed DER: a signature that is not whole bytes".to_string()),
    };
    Ok(Signed { signed: tbs.raw, algorithm, signature, rest })
}

/// `SubjectPublicKeyInfo`: the contents of its AlgorithmIdentifier and the key's bits.
pub fn public_key(spki: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let (inner, _) = expect(spki, SEQUENCE)?;
    let (algorithm, rest) = expect(inner, SEQUENCE)?;
    let (bits, _) = expect(rest, BIT_STRING)?;
    match bits.split_first() {
        Some((0, key)) => Ok((algorithm, key)),
        _ => Err("malformed DER: a public key that is not whole bytes".to_string()),
    }
}

/// A GeneralizedTime (`YYYYMMDDHHMMSS[.f]Z`) as seconds since the Unix epoch.
pub fn generalized_time(value: &[u8]) -> Result<i64, String> {
    let bad = || format!("malformed GeneralizedTime `{}`", String::from_utf8_lossy(value));
    if value.len() < 15 || value.last() != Some(&b'Z') || !value[..14].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let n = |from: usize, len: usize| -> i64 {
        value[from..from + len].iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0'))
    };
    let (year, month, day) = (n(0, 4), n(4, 2), n(6, 2));
    let (hour, minute, second) = (n(8, 2), n(10, 2), n(12, 2));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    // Days from the civil date (proleptic Gregorian), March-based years.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_and_bad_ones_are_errors() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let body = vec![7u8; len];
            let enc = encode(OCTET_STRING, &body);
            let (tlv, rest) = read(&enc).unwrap();
            assert_eq!(
                (tlv.tag, tlv.value.len(), rest.len(), tlv.raw.len()),
                (OCTET_STRING, len, 0, enc.len())
            );
        }
        for bad in
            [&[][..], &[0x30], &[0x30, 0x05, 1], &[0x30, 0x80], &[0x30, 0x85, 1, 1, 1, 1, 1], &[0x1f, 0]]
        {
            assert!(read(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generalized_times() {
        assert_eq!(generalized_time(b"19700101000000Z").unwrap(), 0);
        assert_eq!(generalized_time(b"20240229123456Z").unwrap(), 1_709_210_096);
        assert_eq!(generalized_time(b"20240229123456.5Z").unwrap(), 1_709_210_096);
        for bad in [&b"2024022912345Z"[..], b"20241329123456Z", b"2024022912345xZ", b"20240229123456"] {
            assert!(generalized_time(bad).is_err());
        }
    }
}
