//! The syslog layer: every event becomes one datagram for the local syslog socket, handed to a
//! [`Sink`] that never makes the agent wait. The facility is the `facility` field of the event or
//! of its innermost span that has one (a connection's span records its rule's `SyslogFacility`
//! once mapped), else daemon; the severity comes from the level; the `msgid` field goes in front
//! of the text (and into the RFC 5424 MSGID). The text is the span context, the message and the
//! other fields, as on stderr.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::frame::{self, Facility, Framing, Header};
use super::sink::Sink;
use crate::messages;

/// Sends the agent's log to a syslog socket.
pub struct SyslogLayer {
    sink: Arc<Sink>,
    framing: Framing,
    pid: u32,
    hostname: String,
}

impl SyslogLayer {
    /// A layer sending to the socket at `path`, which must be bound now.
    pub fn open(path: &Path, framing: Framing) -> std::io::Result<SyslogLayer> {
        let (pid, hostname) = (std::process::id(), frame::hostname());
        let shown = path.display().to_string();
        let host = hostname.clone();
        let notice = Box::new(move |dropped: u64| {
            let text = format!(
                "syslog: {dropped} log message(s) dropped: the syslog socket {shown} did not take them"
            );
            let msgid = Some(messages::SYSLOG_DROPPED);
            let h = Header { framing, facility: Facility::Daemon, severity: 4, pid, hostname: &host, msgid };
            frame::datagram(&h, &text)
        });
        let sink = Arc::new(Sink::open(path, notice)?);
        Ok(SyslogLayer { sink, framing, pid, hostname })
    }

    /// The sink, for [`super::flush`].
    pub(super) fn sink(&self) -> Arc<Sink> {
        self.sink.clone()
    }

    fn header<'a>(&'a self, facility: Facility, severity: u8, msgid: Option<&'a str>) -> Header<'a> {
        Header { framing: self.framing, facility, severity, pid: self.pid, hostname: &self.hostname, msgid }
    }
}

/// A span's fields as text, and its facility if it names one (kept in the span's extensions).
#[derive(Default)]
struct SpanFields {
    text: String,
    facility: Option<Facility>,
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "facility" => self.facility = Facility::parse(value).or(self.facility),
            name => push_field(&mut self.text, name, format_args!("{value:?}")),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "facility" => self.facility = Facility::parse(&format!("{value:?}")).or(self.facility),
            name => push_field(&mut self.text, name, format_args!("{value:?}")),
        }
    }
}

/// An event's message, ID, facility and other fields.
#[derive(Default)]
struct EventFields {
    message: String,
    msgid: Option<String>,
    facility: Option<Facility>,
    rest: String,
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "msgid" => self.msgid = Some(value.to_string()),
            "facility" => self.facility = Facility::parse(value),
            name => push_field(&mut self.rest, name, format_args!("{value:?}")),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "msgid" => self.msgid = Some(format!("{value:?}").trim_matches('"').to_string()),
            "facility" => self.facility = Facility::parse(&format!("{value:?}")),
            name => push_field(&mut self.rest, name, format_args!("{value:?}")),
        }
    }
}

/// ` name=value` (no leading space for the first).
fn push_field(out: &mut String, name: &str, value: std::fmt::Arguments<'_>) {
    if !out.is_empty() {
        out.push(' ');
    }
    let _ = write!(out, "{name}={value}");
}

impl<S> tracing_subscriber::Layer<S> for SyslogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = EventFields::default();
        event.record(&mut fields);
        let mut text = String::new();
        let mut facility = None;
        for span in ctx.event_scope(event).into_iter().flat_map(|s| s.from_root()) {
            let ext = span.extensions();
            let own = ext.get::<SpanFields>();
            text.push_str(span.name());
            if let Some(f) = own.filter(|f| !f.text.is_empty()) {
                let _ = write!(text, "{{{}}}", f.text);
            }
            text.push(':');
            facility = own.and_then(|f| f.facility).or(facility);
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&fields.message);
        if !fields.rest.is_empty() {
            text.push(' ');
            text.push_str(&fields.rest);
        }
        let facility = fields.facility.or(facility).unwrap_or_default();
        let severity = frame::severity(event.metadata().level());
        let h = self.header(facility, severity, fields.msgid.as_deref());
        self.sink.send(frame::datagram(&h, &text));
    }
}
