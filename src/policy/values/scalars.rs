//! Scalar values: On/Off switches, whole numbers within a parameter's range, and enumerations
//! (matched regardless of case, kept in the catalog's spelling).

use super::super::catalog::Param;
use super::note::{Note, Notes};

/// A note covering the whole value.
fn whole(text: &str, message: String, hint: &str) -> Note {
    Note::error(0, text.len(), message, hint)
}

pub(super) fn on_off(param: &Param, text: &str, notes: &mut Notes) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "on" => Some(true),
        "off" => Some(false),
        _ => {
            notes.push(whole(
                text,
                format!("{} must be On or Off, not `{text}`", param.name),
                "write On or Off",
            ));
            None
        }
    }
}

pub(super) fn int(param: &Param, text: &str, min: u64, max: u64, notes: &mut Notes) -> Option<u64> {
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Some(n),
        Ok(n) => {
            notes.push(whole(
                text,
                format!("{} value {n} is out of range {min}-{max}", param.name),
                &format!("write a whole number from {min} to {max}"),
            ));
            None
        }
        Err(_) => {
            notes.push(whole(
                text,
                format!("{} needs a number, not `{text}`", param.name),
                &format!("write a whole number from {min} to {max}"),
            ));
            None
        }
    }
}

pub(super) fn enumeration(
    param: &Param,
    text: &str,
    words: &'static [&'static str],
    notes: &mut Notes,
) -> Option<&'static str> {
    match words.iter().find(|w| w.eq_ignore_ascii_case(text)) {
        Some(w) => Some(w),
        None => {
            notes.push(whole(
                text,
                format!("`{text}` is not a value of {}", param.name),
                &format!("write one of: {}", words.join(", ")),
            ));
            None
        }
    }
}
