//! Helpers shared by the fuzz targets in `fuzz_targets/` (docs/fuzzing.md): cutting one input into
//! reads the way a socket might, reading small structured values from the fuzzer's bytes, and a few
//! comparisons the targets assert with.

use arbitrary::Unstructured;

pub mod ftp_script;
#[cfg(test)]
mod seeds;
pub mod tn_script;

/// FNV-1a of `data`: a deterministic seed for [`reads`], so that an input always replays the same.
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// `data` cut into reads of 1 to 16 bytes, their lengths drawn from `seed` (xorshift64).
pub fn reads(data: &[u8], seed: u64) -> Vec<&[u8]> {
    let mut state = seed | 1;
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = usize::try_from(state % 16).unwrap_or(0) + 1;
        let (head, tail) = rest.split_at(len.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

/// One decision from the input: a byte taken modulo `n` (0 when the input is used up).
pub fn pick(u: &mut Unstructured<'_>, n: usize) -> usize {
    u.choose_index(n).unwrap_or(0)
}

/// One flag from the input (false when the input is used up).
pub fn flag(u: &mut Unstructured<'_>) -> bool {
    u.arbitrary::<bool>().unwrap_or(false)
}

/// A byte string from the input: a length byte (at most `max`), then that many bytes (fewer at
/// the end of the input).
pub fn byte_string(u: &mut Unstructured<'_>, max: usize) -> Vec<u8> {
    let len = pick(u, max + 1).min(u.len());
    u.bytes(len).map(<[u8]>::to_vec).unwrap_or_default()
}

/// Whether `needle` is `hay` with some bytes left out (order kept).
pub fn is_subsequence(needle: &[u8], hay: &[u8]) -> bool {
    let mut hay = hay.iter();
    needle.iter().all(|b| hay.any(|h| h == b))
}

/// The first line of every diagnostic in a rendering in the D11 shape (`FILE:LINE:COL: severity:
/// message`): the lines that do not start with a space (excerpts, notes and hints are indented).
pub fn diagnostic_heads(rendered: &str) -> Vec<&str> {
    rendered.lines().filter(|l| !l.starts_with(' ')).collect()
}

/// Asserts that every head line of `rendered` names `file`, a line and a column, and a severity,
/// and that there is one head per diagnostic (`count`).
pub fn assert_d11(rendered: &str, file: &str, count: usize) {
    let heads = diagnostic_heads(rendered);
    assert_eq!(heads.len(), count, "one head line per diagnostic:\n{rendered}");
    for head in heads {
        let rest = head.strip_prefix(file).and_then(|r| r.strip_prefix(':'));
        let rest = rest.unwrap_or_else(|| panic!("head line does not name {file}: {head:?}"));
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().and_then(|l| l.parse::<usize>().ok());
        let col = parts.next().and_then(|c| c.parse::<usize>().ok());
        assert!(line.is_some_and(|l| l > 0) && col.is_some_and(|c| c > 0), "no LINE:COL: {head:?}");
        let tail = parts.next().unwrap_or_default();
        assert!(
            [" error: ", " warning: ", " info: "].iter().any(|s| tail.starts_with(s)),
            "no severity: {head:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cover_the_input_in_order() {
        let data: Vec<u8> = (0..=255).collect();
        let cut = reads(&data, 7);
        assert!(cut.iter().all(|r| (1..=16).contains(&r.len())));
        assert_eq!(cut.concat(), data);
    }

    #[test]
    fn subsequences() {
        assert!(is_subsequence(b"ace", b"abcde"));
        assert!(!is_subsequence(b"ea", b"abcde"));
        assert!(is_subsequence(b"", b""));
    }
}
