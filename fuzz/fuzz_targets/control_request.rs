//! Fuzz target `control_request`: any bytes as one control-socket request line, decoded as the
//! agent decodes it (`serde_json::from_slice` into `attls::control::proto::Request`).
//!
//! Asserts: no panic; a line decodes the same with or without its `\n`; a decoded request
//! serialises to one line (no raw newline, the protocol is line-delimited) that decodes to the same
//! request, directly and through a `serde_json::Value`; a line that is no request gets the `EINVAL`
//! reply the agent writes, itself one line of JSON that reads back with `ok: false`, the errno and
//! the message.

#![no_main]

use attls::control::proto::{Errno, MAX_LINE, Request, VERSION, err};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_LINE {
        return; // refused unread by the agent
    }
    let decoded = serde_json::from_slice::<Request>(data);
    let bare = data.strip_suffix(b"\n").unwrap_or(data);
    let bare_decoded = serde_json::from_slice::<Request>(bare);
    assert_eq!(decoded.as_ref().ok(), bare_decoded.as_ref().ok(), "the line's \\n changes the request");
    match decoded {
        Ok(req) => {
            let line = serde_json::to_string(&req).expect("a request serialises");
            assert!(!line.contains('\n'), "a request is not one line: {line:?}");
            let back: Request = serde_json::from_str(&line).expect("a serialised request decodes");
            assert_eq!(back, req);
            let value = serde_json::to_value(&req).expect("a request becomes a Value");
            assert_eq!(value["v"], Value::from(req.v));
            let back: Request = serde_json::from_value(value).expect("a Value request decodes");
            assert_eq!(back, req);
        }
        Err(e) => {
            let message = format!("not a request: {e}");
            let reply = err(Errno::Einval, message.clone()).to_string();
            assert!(!reply.contains('\n'), "the reply is not one line: {reply:?}");
            let read: Value = serde_json::from_str(&reply).expect("the reply is JSON");
            assert_eq!(read["ok"], Value::Bool(false));
            assert_eq!(read["v"], Value::from(VERSION));
            assert_eq!(read["errno"], Value::from("EINVAL"));
            assert_eq!(read["message"], Value::from(message));
        }
    }
});
