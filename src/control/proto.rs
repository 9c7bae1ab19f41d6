//! The control protocol's messages (docs/policy-reference.md#control-socket): line-delimited JSON,
//! version 1. A request names an op; replies are `{"v":1,"ok":true,...}` or
//! `{"v":1,"ok":false,"errno":NAME,"message":...}`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const VERSION: u32 = 1;
/// Longest request line accepted.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Request {
    pub v: u32,
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<String>,
    /// The connection as the application sees it: its getpeername(), attls's backend-side address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_peer: Option<String>,
    /// With `app_peer`: the application's own address (its getsockname()), which tells connections
    /// apart when several share `app_peer` (an outbound listener's address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_local: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detail: bool,
    /// INIT/STOP: the application's byte count on the connection at which to switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_hstimeout: bool,
    /// `clients`: only this rule's profiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl Request {
    pub fn new(op: &str) -> Self {
        Request {
            v: VERSION,
            op: op.into(),
            conn: None,
            app_peer: None,
            app_local: None,
            detail: false,
            written: None,
            allow_hstimeout: false,
            rule: None,
        }
    }
}

pub use crate::errno::Errno;

pub fn ok(fields: Map<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert("v".into(), VERSION.into());
    m.insert("ok".into(), true.into());
    m.extend(fields);
    Value::Object(m)
}

pub fn err(errno: Errno, message: impl Into<String>) -> Value {
    serde_json::json!({ "v": VERSION, "ok": false, "errno": errno.name(), "message": message.into() })
}
