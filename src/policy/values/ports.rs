//! Ports and port ranges: `n` or `n-m`, each 0–65535.

use nom::{
    IResult, Parser,
    bytes::complete::tag,
    character::complete::digit1,
    combinator::{all_consuming, opt},
    sequence::preceded,
};

use super::super::ast::PortSpan;
use super::note::{Note, Notes};

fn port_num(input: &str) -> IResult<&str, &str> {
    digit1(input)
}

/// `n` or `n-m`, each 0–65535, n ≤ m.
pub fn ports(text: &str, notes: &mut Notes) -> Option<PortSpan> {
    let hint = "write one port (0-65535) or a range n-m";
    let parsed: IResult<&str, (&str, Option<&str>)> =
        all_consuming((port_num, opt(preceded(tag("-"), port_num)))).parse(text);
    let Ok((_, (lo_t, hi_t))) = parsed else {
        notes.push(Note::error(0, text.len(), format!("`{text}` is not a port or port range"), hint));
        return None;
    };
    let check = |t: &str, at: usize, notes: &mut Notes| match t.parse::<u32>() {
        Ok(n) if n <= 65535 => Some(n as u16),
        _ => {
            notes.push(Note::error(at, at + t.len(), format!("port {t} is out of range 0-65535"), hint));
            None
        }
    };
    let lo = check(lo_t, 0, notes);
    let hi = match hi_t {
        Some(h) => check(h, lo_t.len() + 1, notes),
        None => lo,
    };
    let (lo, hi) = (lo?, hi?);
    if lo > hi {
        notes.push(Note::error(
            0,
            text.len(),
            format!("port range {text} runs backwards"),
            format!("write {hi}-{lo}"),
        ));
        return None;
    }
    Some(PortSpan { lo, hi })
}
