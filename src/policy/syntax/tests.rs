use super::*;
use crate::policy::ast::Value;
use crate::policy::source::SourceMap;

fn parse(text: &str) -> (Vec<Statement>, Diagnostics, SourceMap) {
    let mut sources = SourceMap::default();
    let id = sources.add("t.pol", text.to_string());
    let mut diags = Diagnostics::default();
    let stmts = parse_file(id, text, &mut diags);
    diags.finish(false);
    (stmts, diags, sources)
}

fn first_lines(diags: &Diagnostics, sources: &SourceMap) -> Vec<String> {
    diags.render(sources).lines().filter(|l| l.starts_with("t.pol:")).map(String::from).collect()
}

#[test]
fn statement_with_params_and_inline_named_and_unnamed_blocks() {
    let (s, d, _) = parse(
        "TTLSEnvironmentAction eAct1~ABC_FTP_4021\n{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {\n    Keyring FTPD/FTPRING\n  }\n  TTLSEnvironmentAdvancedParms envAdv1\n  {\n    TLSv1.3 On\n  }\n}\n",
    );
    assert!(d.items.is_empty(), "{d:?}");
    assert_eq!(s.len(), 1);
    let env = &s[0];
    assert_eq!(env.name.as_ref().unwrap().value, "eAct1~ABC_FTP_4021");
    assert_eq!(env.param("HandshakeRole").unwrap().value, Value::Enum("Server"));
    let blocks: Vec<_> = env.blocks().collect();
    assert_eq!(blocks.len(), 2);
    assert!(blocks[0].name.is_none());
    assert_eq!(blocks[1].name.as_ref().unwrap().value, "envAdv1");
}

#[test]
fn any_case_keywords_crlf_tabs_and_comments() {
    let (s, d, _) = parse("ttlsgroupaction\tg1 # c\r\n{\r\n\tttlsenabled\tON # on\r\n  TRACE 6\r\n}\r\n");
    assert!(d.items.is_empty(), "{d:?}");
    assert_eq!(s[0].kind, Kind::GroupAction);
    assert_eq!(s[0].param("TTLSEnabled").unwrap().value, Value::OnOff(true));
    assert_eq!(s[0].param("Trace").unwrap().value, Value::Int(6));
}

#[test]
fn one_line_blocks_are_accepted_with_one_warning_per_file() {
    let (s, d, _) = parse("PortRange p1 { Port 21 }\nPortRange p2 {\n  Port 22\n}\n");
    assert_eq!(s.len(), 2);
    assert_eq!(d.items.len(), 1);
    assert!(d.items[0].portability);
}

#[test]
fn text_values_take_the_rest_of_the_line() {
    let (s, d, _) =
        parse("TTLSEnvironmentAdvancedParms a\n{\n  CertificateLabel My Server Cert   # the label\n}\n");
    assert!(d.items.is_empty(), "{d:?}");
    assert_eq!(s[0].param("CertificateLabel").unwrap().raw, "My Server Cert");
}

#[test]
fn unknown_parameter_names_the_nearest_and_the_line() {
    let (_, d, src) = parse("TTLSRule r\n{\n  LocalPortRang 21\n  Direction Inbound\n}\n");
    assert_eq!(
        first_lines(&d, &src),
        vec!["t.pol:3:3: error: unknown parameter `LocalPortRang` in TTLSRule"]
    );
    assert_eq!(d.items[0].hint, "did you mean LocalPortRange?");
}

#[test]
fn parameter_in_the_wrong_statement_names_its_home() {
    let (_, d, _) = parse("TTLSGroupAction g\n{\n  HandshakeRole Server\n}\n");
    assert!(d.items[0].message.contains("does not belong in TTLSGroupAction"));
    assert!(d.items[0].hint.contains("TTLSEnvironmentAction"));
}

#[test]
fn unknown_statement_suggests_and_recovers() {
    let (s, d, src) = parse("TLSRule r\n{\n  Direction Inbound\n}\nPortRange p\n{\n  Port 70000\n}\n");
    assert_eq!(s.len(), 1);
    let lines = first_lines(&d, &src);
    assert_eq!(lines[0], "t.pol:1:1: error: unknown statement `TLSRule`");
    assert_eq!(d.items[0].hint, "did you mean TTLSRule?");
    assert_eq!(lines[1], "t.pol:7:8: error: port 70000 is out of range 0-65535");
}

#[test]
fn end_of_file_inside_a_block_points_at_the_open_brace() {
    let (_, d, src) = parse("TTLSRule r\n{\n  Direction Inbound\n");
    assert_eq!(
        first_lines(&d, &src),
        vec!["t.pol:2:1: error: end of file inside TTLSRule r: this `{` is never closed"]
    );
}

#[test]
fn missing_close_brace_before_next_statement_is_found_and_parsing_goes_on() {
    let (s, d, src) =
        parse("TTLSRule r\n{\n  Direction Inbound\nTTLSGroupAction g\n{\n  TTLSEnabled On\n}\n");
    assert_eq!(s.len(), 2);
    assert_eq!(
        first_lines(&d, &src),
        vec!["t.pol:2:1: error: TTLSRule r is not closed before TTLSGroupAction on line 4"]
    );
}

#[test]
fn stray_close_brace() {
    let (_, d, src) = parse("PortRange p\n{\n  Port 1\n}\n}\n");
    assert_eq!(first_lines(&d, &src), vec!["t.pol:5:1: error: `}` closes nothing"]);
}

#[test]
fn semicolon_comment_is_an_error_with_hint() {
    let (_, d, _) = parse("; old style comment\nPortRange p\n{\n  Port 1\n}\n");
    assert_eq!(d.error_count(), 1);
    assert_eq!(d.items[0].hint, "use # for comments");
}

#[test]
fn statement_without_name_is_an_error() {
    let (_, d, src) = parse("TTLSGroupAction\n{\n  TTLSEnabled On\n}\n");
    assert_eq!(first_lines(&d, &src), vec!["t.pol:1:1: error: TTLSGroupAction has no name"]);
}

#[test]
fn inline_action_in_a_rule_is_an_error() {
    let (_, d, _) =
        parse("TTLSRule r\n{\n  TTLSGroupAction g\n  {\n    TTLSEnabled On\n  }\n  Direction Inbound\n}\n");
    assert_eq!(d.error_count(), 1);
    assert!(d.items[0].hint.contains("TTLSGroupActionRef"));
}

#[test]
fn repeats_last_wins_with_warning_but_second_port_is_an_error() {
    let (s, d, _) = parse("TTLSGroupAction g\n{\n  Trace 2\n  Trace 6\n  TTLSEnabled On\n}\n");
    assert_eq!(s[0].param("Trace").unwrap().value, Value::Int(6));
    assert!(!d.has_errors() && d.items[0].portability);
    let (_, d, _) = parse("PortRange p\n{\n  Port 1\n  Port 2\n}\n");
    assert!(d.has_errors());
    let (_, d, _) = parse("IpAddrSet s\n{\n  Prefix 10.0.0.0/8\n  Range 10.0.0.1-10.0.0.2\n}\n");
    assert!(d.has_errors());
}

#[test]
fn two_forms_of_one_slot_last_wins() {
    let (s, d, _) =
        parse("TTLSRule r\n{\n  LocalAddr 10.0.0.1\n  LocalAddrGroupRef grp\n  Direction Inbound\n}\n");
    assert!(s[0].param("LocalAddr").is_none());
    assert!(s[0].param("LocalAddrGroupRef").is_some());
    assert!(d.items[0].message.contains("both set LocalAddr"), "{:?}", d.items[0]);
}

#[test]
fn parameter_with_no_value_counts_as_not_written() {
    let (s, d, _) = parse("TTLSEnvironmentAdvancedParms a\n{\n  CertificateLabel   # none yet\n}\n");
    assert!(s[0].param("CertificateLabel").is_none());
    assert!(d.items[0].portability && !d.has_errors());
}

#[test]
fn extra_tokens_after_a_value_are_ignored_with_warning() {
    let (s, d, _) = parse("TTLSRule r\n{\n  Priority 255 ; old\n  Direction Inbound\n}\n");
    assert_eq!(s[0].param("Priority").unwrap().value, Value::Int(255));
    assert!(!d.has_errors());
    assert!(d.items[0].message.contains("text after the value of Priority"));
}

#[test]
fn configuration_assistant_layout_parses() {
    let text = "##\n## AT-TLS Policy Agent Configuration file for:\n##    Image: MVS098\n##    Stack: TCPCS\n\
## Created by the IBM Configuration Assistant for z/OS Communications Server\n##\n\
TTLSRule                          ABC-all-IPv4~1\n{\n  LocalAddrSetRef                 addr1\n\
  RemoteAddrSetRef                addr1\n  LocalPortRangeRef               portR1\n\
  RemotePortRangeRef              portR2\n  Direction                       Inbound\n\
  Priority                        255\n  TTLSGroupActionRef              gAct1\n\
  TTLSEnvironmentActionRef        eAct1~ABC_FTP_4021\n  TTLSConnectionActionRef         cAct1~ABC_FTP_4021\n}\n";
    let (s, d, _) = parse(text);
    assert!(d.items.is_empty(), "{d:?}");
    assert_eq!(s[0].params().count(), 9);
}

#[test]
fn every_error_in_one_run() {
    let (_, d, _) = parse(
        "PortRange a\n{\n  Port 70000\n}\nPortRange b\n{\n  Port x\n}\nIpAddr c\n{\n  Addr 10.1.1.300\n}\n",
    );
    assert_eq!(d.error_count(), 3);
}
