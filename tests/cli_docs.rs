//! `pagent completions` and `pagent man`: scripts and pages generated from the clap definitions name
//! every subcommand and flag (`refresh --dry-run`, `netstat --group`), the bash script parses, the
//! man pages render; and `pagent ctl --help` describes the ops the agent answers today.

use std::path::Path;
use std::process::Command;

use crate::support::agent::TempDir;
use crate::support::{pagent, stderr, stdout};

/// The subcommands `pagent --help` lists (its `help` excepted): what the scripts and pages must cover.
fn subcommands() -> Vec<String> {
    let out = pagent(&["--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let help = stdout(&out);
    let listed: Vec<String> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|name| name != "help")
        .collect();
    for known in
        ["check", "search", "start", "refresh", "netstat", "ctl", "setup-intercept", "completions", "man"]
    {
        assert!(listed.iter().any(|n| n == known), "`{known}` missing from pagent --help:\n{help}");
    }
    listed
}

/// The first line of `pagent SUB --help`: the subcommand's description.
fn description(sub: &str) -> String {
    let out = pagent(&[sub, "--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out).lines().next().unwrap_or_default().trim_end_matches('.').to_string()
}

fn completions(shell: &str) -> String {
    let out = pagent(&["completions", shell]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    stdout(&out)
}

#[test]
fn bash_completions_parse_and_name_every_subcommand() {
    let script = completions("bash");
    let dir = TempDir::new("completions");
    let file = dir.path().join("pagent.bash");
    std::fs::write(&file, &script).expect("write the script");
    let check = Command::new("bash").arg("-n").arg(&file).output().expect("run bash -n");
    assert!(check.status.success(), "bash -n: {}", stderr(&check));
    let words: Vec<&str> = script.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).collect();
    for sub in subcommands() {
        assert!(words.contains(&sub.as_str()), "`{sub}` missing from the bash completions");
    }
}

#[test]
fn zsh_and_fish_completions_are_for_pagent() {
    let zsh = completions("zsh");
    assert!(zsh.starts_with("#compdef pagent"), "{zsh}");
    let fish = completions("fish");
    assert!(fish.contains("complete -c pagent"), "{fish}");
    for sub in subcommands() {
        assert!(zsh.contains(&sub), "`{sub}` missing from the zsh completions");
        assert!(fish.contains(&sub), "`{sub}` missing from the fish completions");
    }
}

#[test]
fn completions_for_an_unknown_shell_are_a_usage_error() {
    let out = pagent(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
}

#[test]
fn man_writes_a_section_8_page_per_subcommand_and_prints_each_path() {
    let dir = TempDir::new("man");
    let target = dir.path().join("share/man/man8");
    let out = pagent(&["man", target.to_str().expect("UTF-8 temp path")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut names = vec!["pagent".to_string()];
    names.extend(subcommands().iter().map(|s| format!("pagent-{s}")));
    let expected: Vec<String> =
        names.iter().map(|n| target.join(format!("{n}.8")).display().to_string()).collect();
    let printed: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(printed, expected);
    for (name, path) in names.iter().zip(&expected) {
        let roff = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(roff.contains(&format!(".TH {name} 8 ")), "{path}:\n{roff}");
    }
    let again = pagent(&["man", target.to_str().expect("UTF-8 temp path")]);
    assert_eq!(again.status.code(), Some(0), "an existing DIR is fine: {}", stderr(&again));
}

#[test]
fn man_page_renders_with_the_subcommand_description() {
    let dir = TempDir::new("man-render");
    let out = pagent(&["man", dir.path().to_str().expect("UTF-8 temp path")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = dir.path().join("pagent-netstat.8");
    let text = squeeze(&render(&page));
    let about = description("netstat");
    assert!(about.contains("Live connections"), "{about}");
    assert!(text.contains(&about), "`{about}` not in the rendered page:\n{text}");
    assert!(text.contains("pagent netstat"), "the synopsis: {text}");
}

/// The page as a reader sees it: `man -l`, else `groff -man`, else (neither installed) the roff
/// source itself. A renderer's output counts only if it names the page (a stub `man` does not).
fn render(page: &Path) -> String {
    let renderers: [(&str, Vec<&str>); 2] =
        [("man", vec!["-l", "-P", "cat"]), ("groff", vec!["-man", "-Tutf8", "-rLL=200n"])];
    for (tool, args) in renderers {
        let run = Command::new(tool)
            .args(&args)
            .arg(page)
            .env("MANWIDTH", "200")
            .env("MAN_DISABLE_SECCOMP", "1")
            .env("GROFF_NO_SGR", "1")
            .output();
        if let Ok(o) = run {
            let text = plain(&String::from_utf8_lossy(&o.stdout));
            if o.status.success() && text.contains("pagent-netstat") {
                return text;
            }
        }
    }
    std::fs::read_to_string(page).expect("read the page")
}

/// Drops overstrike (`c\bc`) and SGR escapes, so bold and underlined words compare as text, and
/// reads typographic hyphens and minus signs as `-`.
fn plain(s: &str) -> String {
    let mut out: Vec<char> = Vec::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{8}' => {
                out.pop();
            }
            '\u{1b}' => {
                for e in chars.by_ref() {
                    if e.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            '\u{2010}' | '\u{2212}' => out.push('-'),
            _ => out.push(c),
        }
    }
    out.into_iter().collect()
}

fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn ctl_help_describes_the_ops_of_today() {
    let out = pagent(&["ctl", "--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let help = stdout(&out);
    assert!(!help.contains("available now"), "{help}");
    for op in [
        "query",
        "cert",
        "init",
        "stop",
        "reset-cipher",
        "reset-write-cipher",
        "reset-session",
        "send-session-ticket",
    ] {
        assert!(help.contains(op), "`{op}` missing from pagent ctl --help:\n{help}");
    }
    assert!(help.contains("SIOCTTLSCTL"), "{help}");
}

#[test]
fn completions_and_man_pages_offer_the_dry_run_and_group_flags() {
    let (bash, zsh, fish) = (completions("bash"), completions("zsh"), completions("fish"));
    for flag in ["dry-run", "group"] {
        assert!(bash.contains(&format!("--{flag}")), "--{flag} missing from the bash completions");
        assert!(zsh.contains(&format!("--{flag}")), "--{flag} missing from the zsh completions");
        assert!(fish.contains(&format!("-l {flag}")), "--{flag} missing from the fish completions");
    }
    let dir = TempDir::new("man-flags");
    let out = pagent(&["man", dir.path().to_str().expect("UTF-8 temp path")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for (page, flag, words) in [
        ("pagent-refresh.8", "--dry-run", "live connections would map to another rule"),
        ("pagent-netstat.8", "--group", "TTLSGroupAction"),
    ] {
        let roff = std::fs::read_to_string(dir.path().join(page)).expect("read the page");
        let text = squeeze(&roff.replace("\\-", "-"));
        assert!(text.contains(flag) && text.contains(words), "{page} lacks {flag} ({words}):\n{text}");
    }
}
