//! What a value parser reports: a [`Note`] with byte offsets inside the value text, which the
//! caller turns into a diagnostic.

/// Something to report about a value; byte offsets are relative to the value text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub error: bool,
    pub portability: bool,
    pub group: Option<String>,
    pub start: usize,
    pub end: usize,
    pub message: String,
    pub hint: String,
}

impl Note {
    pub(super) fn error(start: usize, end: usize, message: String, hint: impl Into<String>) -> Self {
        Note { error: true, portability: false, group: None, start, end, message, hint: hint.into() }
    }
    pub(super) fn warning(start: usize, end: usize, message: String, hint: impl Into<String>) -> Self {
        Note { error: false, ..Note::error(start, end, message, hint) }
    }
    pub(super) fn quirk(
        start: usize,
        end: usize,
        message: String,
        hint: impl Into<String>,
        group: &str,
    ) -> Self {
        Note { portability: true, group: Some(group.into()), ..Note::warning(start, end, message, hint) }
    }
}

pub type Notes = Vec<Note>;
