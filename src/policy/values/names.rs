//! Names: statement and reference names (1–32 printable characters), and the job names and user
//! IDs of rule conditions (a trailing `*` allowed, more than 8 characters a z/OS quirk).

use super::note::{Note, Notes};

/// A name: 1–32 printable non-blank ASCII characters except `{ } # ; "`.
pub fn bad_name(text: &str) -> Option<Note> {
    if text.is_empty() {
        return Some(Note::error(0, 0, "empty name".into(), "names have 1 to 32 characters"));
    }
    if let Some((i, c)) = text.char_indices().find(|&(_, c)| !c.is_ascii_graphic() || "{}#;\"".contains(c)) {
        return Some(Note::error(
            i,
            i + c.len_utf8(),
            format!("`{c}` is not allowed in a name"),
            "names use printable ASCII without blanks or { } # ; \" (generated names use ~ - . _)",
        ));
    }
    if text.len() > 32 {
        return Some(Note::error(
            32,
            text.len(),
            format!("name `{text}` is {} characters long; the limit is 32", text.len()),
            "shorten the name to 32 characters",
        ));
    }
    None
}

pub(super) fn jobname(param: &str, text: &str, notes: &mut Notes) -> Option<String> {
    if let Some(i) = text.find('*')
        && i != text.len() - 1
    {
        notes.push(Note::error(
            i,
            i + 1,
            format!("`*` may only end a {param}: `{text}`"),
            "write an exact name, a prefix ending in `*`, or `*` alone",
        ));
        return None;
    }
    if let Some(n) = bad_name(text) {
        notes.push(n);
        return None;
    }
    if text.trim_end_matches('*').len() > 8 {
        notes.push(Note::quirk(
            0,
            text.len(),
            format!("{param} `{text}` is longer than the 8 characters z/OS allows"),
            "attls accepts up to 32; shorten it if the file must also load on z/OS",
            if param == "Jobname" { "long-jobname" } else { "long-userid" },
        ));
    }
    Some(text.to_string())
}
