//! `pagent netstat --json`: the list and the detail of [`super`] as JSON objects, with the status
//! words of docs/policy-reference.md#status-words.

use serde_json::{Map, Value, json};

use super::*;

/// One connection as a JSON object (keys of the netstat `--json` contract).
fn conn_json(c: &ConnSnapshot) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("conn".into(), json!(c.id.to_string()));
    m.insert("jobname".into(), json!(c.jobname));
    m.insert("listener".into(), json!(c.listener));
    m.insert("local".into(), json!(socket_text(&c.local)));
    m.insert("remote".into(), json!(socket_text(&c.remote)));
    m.insert("local_addr".into(), json!(socket_addr_text(&c.local)));
    m.insert("remote_addr".into(), json!(socket_addr_text(&c.remote)));
    m.insert("policy_status".into(), json!(c.policy_status.word()));
    m.insert("conn_status".into(), json!(c.conn_status.word()));
    m.insert("map_type".into(), json!(map_word(c)));
    m.insert("primary_conn".into(), json!(c.primary.map(|p| p.to_string())));
    m.insert("rule".into(), json!(c.rule.as_ref().map(|r| r.name.clone())));
    m.insert("generation".into(), json!(c.generation));
    m.insert("protocol".into(), json!(c.protocol_helper));
    m.insert("tls_version".into(), json!(c.tls_version));
    m.insert("cipher".into(), json!(c.cipher.map(cipher_text)));
    m.insert("cipher_code".into(), json!(c.cipher.map(ciphers::hex4)));
    m.insert("key_share".into(), json!(c.key_share.map(key_share_text)));
    m.insert("peer_subject".into(), json!(c.peer_subject));
    m.insert("peer_validated".into(), json!(c.peer_validated()));
    m.insert("cert_user_id".into(), json!(c.cert_user));
    m.insert("secured_how".into(), json!(c.secured_how));
    m.insert("tls_resumed".into(), json!(c.tls_resumed));
    m.insert("fips_mode".into(), json!(c.fips_mode));
    m.insert("not_after".into(), json!(crate::expiry::of_connection(c).map(rfc3339)));
    m.insert("bytes_in".into(), json!(c.bytes_in));
    m.insert("bytes_out".into(), json!(c.bytes_out));
    m.insert("started".into(), json!(rfc3339(c.started)));
    m
}

/// JSON: for the list `{"connections":[...]}`; each connection an object.
pub fn list_json(conns: &[ConnSnapshot]) -> Value {
    let list: Vec<Value> = conns.iter().map(|c| Value::Object(conn_json(c))).collect();
    json!({ "connections": list })
}

/// Written parameters as an object; a keyword written more than once has its values joined by a
/// space (as `other` in `pagent search --json`).
fn params_json(level: &Params) -> Value {
    let mut m = Map::new();
    for (k, v) in level {
        match m.get_mut(k) {
            Some(Value::String(s)) => {
                s.push(' ');
                s.push_str(v);
            }
            _ => {
                m.insert(k.clone(), json!(v));
            }
        }
    }
    Value::Object(m)
}

/// One connection with its rule and actions in full (for --detail --json): the list object plus
/// `rule_detail` (the `pagent search --json` rule object with `written`), null without a rule.
pub fn detail_json(c: &ConnSnapshot) -> Value {
    let mut m = conn_json(c);
    let detail = c.rule.as_ref().map_or(Value::Null, |r| {
        let mut rule = crate::search::rule_json(r);
        let w = &r.settings.written;
        if let Value::Object(o) = &mut rule {
            o.insert(
                "written".into(),
                json!({
                    "group": params_json(&w.group),
                    "environment": params_json(&w.environment),
                    "connection": params_json(&w.connection),
                }),
            );
        }
        rule
    });
    m.insert("rule_detail".into(), detail);
    Value::Object(m)
}
