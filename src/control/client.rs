//! The control socket's client: one request, one reply (used by `pagent refresh`, `pagent netstat`
//! and tests).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::proto::Request;

/// How long to wait for a reply (a refresh of a large policy takes a while).
const REPLY_WAIT: Duration = Duration::from_secs(120);

pub async fn request(socket: &Path, req: &Request) -> Result<Value, String> {
    let mut s = UnixStream::connect(socket).await.map_err(|e| {
        format!(
            "cannot reach the agent at {}: {e} (is `pagent start` running? use -c CONFIG or --socket PATH)",
            socket.display()
        )
    })?;
    let line = serde_json::to_string(req).map_err(|e| e.to_string())? + "\n";
    s.write_all(line.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut reply = String::new();
    let mut r = BufReader::new(s);
    tokio::time::timeout(REPLY_WAIT, r.read_line(&mut reply))
        .await
        .map_err(|_| "the agent did not answer in time".to_string())?
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&reply).map_err(|e| format!("unreadable reply from the agent: {e}"))
}
