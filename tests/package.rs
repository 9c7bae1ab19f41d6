//! The Debian package (`scripts/package`, docs/packaging.md), built from this test build's pagent:
//! every file in its place with its mode, the control fields, the conffiles, maintainer scripts that
//! parse; the packaged man pages render and the completions load; dpkg installs, removes and purges
//! it in a scratch root (`dpkg --root`: the scripts act there, never on the host); and, as root, on
//! this host's own file system seen through overlays in private namespaces, where the installed
//! unit's commands start the agent under ProtectSystem=strict-like mounts and the client lines it
//! prints work (tests/support/package_host.sh).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::agent::TempDir;
use crate::support::{files_with_ext, root, stderr, stdout};

/// A package built by `scripts/package` in its own directory (removed on drop).
struct Package {
    dir: TempDir,
    deb: PathBuf,
}

/// `scripts/package --binary <this build's pagent> --out TMP --compress COMPRESS`: the last line of
/// its output is the package's path.
fn build(tag: &str, compress: &str) -> Package {
    let dir = TempDir::new(tag);
    let out_dir = dir.path().join("out");
    let out = Command::new(root().join("scripts/package"))
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_pagent"))
        .arg("--out")
        .arg(&out_dir)
        .args(["--compress", compress])
        .output()
        .expect("run scripts/package");
    assert!(out.status.success(), "scripts/package: {}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let deb = PathBuf::from(text.lines().last().expect("scripts/package printed nothing"));
    assert!(deb.is_file() && deb.starts_with(&out_dir), "not the package: {text}");
    Package { dir, deb }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}{}", stdout(&out), stderr(&out));
    out
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    stdout(&run(Command::new("dpkg-deb").args(args).arg(deb)))
}

/// Every file path the package should hold, from the repository and the binary itself.
fn expected_files(dir: &Path) -> BTreeSet<String> {
    let mut want: BTreeSet<String> = [
        "usr/sbin/pagent",
        "lib/systemd/system/pagent.service",
        "usr/share/bash-completion/completions/pagent",
        "usr/share/zsh/vendor-completions/_pagent",
        "usr/share/fish/vendor_completions.d/pagent.fish",
        "etc/attls/pagent.conf",
        "usr/share/doc/attls/copyright",
        "usr/share/doc/attls/changelog.gz",
        "usr/share/doc/attls/README.md",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let pages = dir.join("man");
    run(Command::new(env!("CARGO_BIN_EXE_pagent")).arg("man").arg(&pages));
    let pages = files_with_ext(&pages, "8");
    assert!(pages.len() > 5, "pagent man wrote {pages:?}");
    let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
    want.extend(pages.iter().map(|p| format!("usr/share/man/man8/{}.gz", name(p))));
    want.extend(
        files_with_ext(&root().join("policies"), "pol").iter().map(|p| format!("etc/attls/{}", name(p))),
    );
    want.extend(
        files_with_ext(&root().join("docs"), "md")
            .iter()
            .map(|p| format!("usr/share/doc/attls/docs/{}", name(p))),
    );
    if root().join("dist/logrotate/attls").is_file() {
        want.insert("etc/logrotate.d/attls".into());
    }
    want
}

#[test]
fn the_package_holds_every_file_with_its_mode_control_fields_and_conffiles() {
    let pkg = build("package-contents", "xz");
    let listing = dpkg_deb(&["-c"], &pkg.deb);
    let mut files = BTreeSet::new();
    for line in listing.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.len(), 6, "unexpected listing line {line:?}");
        assert_eq!(cols[1], "root/root", "{line}");
        let path = cols[5].trim_start_matches("./").trim_end_matches('/');
        match cols[0].chars().next() {
            Some('d') => assert_eq!(cols[0], "drwxr-xr-x", "{line}"),
            Some('-') => {
                let mode = if path == "usr/sbin/pagent" { "-rwxr-xr-x" } else { "-rw-r--r--" };
                assert_eq!(cols[0], mode, "{line}");
                files.insert(path.to_string());
            }
            _ => panic!("neither a file nor a directory: {line}"),
        }
    }
    assert_eq!(files, expected_files(pkg.dir.path()), "the package's files");

    let field = |name: &str| {
        dpkg_deb(&["-f"], &pkg.deb)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(String::from))
    };
    let arch = stdout(&run(Command::new("dpkg").arg("--print-architecture"))).trim().to_string();
    assert_eq!(field("Package").as_deref(), Some("attls"));
    assert_eq!(field("Version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(field("Architecture"), Some(arch));
    assert!(field("Maintainer").is_some_and(|m| m.contains('<') && m.ends_with('>')));
    assert!(field("Description").is_some_and(|d| d.contains("AT-TLS")));
    let depends = field("Depends").expect("a Depends field");
    assert!(depends.starts_with("libc6 (>= 2."), "Depends: {depends}");
    depends_cover_shlibdeps(&depends, pkg.dir.path());

    let control = pkg.dir.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&pkg.deb).arg(&control));
    let conffiles: BTreeSet<String> = std::fs::read_to_string(control.join("conffiles"))
        .unwrap()
        .lines()
        .map(|l| l.trim_start_matches('/').to_string())
        .collect();
    let etc: BTreeSet<String> = files.iter().filter(|f| f.starts_with("etc/")).cloned().collect();
    assert_eq!(conffiles, etc, "conffiles: every file under /etc, nothing else");
    for script in ["postinst", "prerm", "postrm"] {
        let path = control.join(script);
        let check = run(Command::new("sh").arg("-n").arg(&path));
        assert_eq!(stderr(&check), "", "{script}");
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o755, "{script}");
    }
}

/// With dpkg-dev installed, the Depends dpkg-shlibdeps computes for the binary is covered: each
/// package it names is in Depends, at a version at least as high.
fn depends_cover_shlibdeps(depends: &str, dir: &Path) {
    let work = dir.join("shlibdeps");
    std::fs::create_dir_all(work.join("debian")).unwrap();
    std::fs::write(work.join("debian/control"), "Source: attls\n\nPackage: attls\nArchitecture: any\n")
        .unwrap();
    let out = Command::new("dpkg-shlibdeps")
        .arg("-O")
        .arg(env!("CARGO_BIN_EXE_pagent"))
        .current_dir(&work)
        .output();
    let Ok(out) = out.map_err(|e| eprintln!("skipping the dpkg-shlibdeps comparison: {e}")) else { return };
    assert!(out.status.success(), "dpkg-shlibdeps: {}", stderr(&out));
    let theirs = stdout(&out);
    let theirs = theirs.trim().strip_prefix("shlibs:Depends=").expect("shlibs:Depends=");
    let parse = |list: &str| -> Vec<(String, String)> {
        list.split(", ")
            .map(|d| match d.split_once(" (>= ") {
                Some((name, v)) => (name.to_string(), v.trim_end_matches(')').to_string()),
                None => (d.to_string(), "0".to_string()),
            })
            .collect()
    };
    let ours = parse(depends);
    for (name, version) in parse(theirs) {
        let (_, mine) =
            ours.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("Depends {depends} lacks {name}"));
        let ge = Command::new("dpkg").args(["--compare-versions", mine, "ge", &version]).status().unwrap();
        assert!(ge.success(), "Depends {depends}: {name} {mine} < {version} (dpkg-shlibdeps: {theirs})");
    }
}

#[test]
fn the_packaged_files_work_and_dpkg_installs_removes_and_purges_them_in_a_scratch_root() {
    let pkg = build("package-root", "zstd");
    let r = pkg.dir.path().join("root");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::write(r.join("var/lib/dpkg/status"), "").unwrap();
    let host_state = Path::new("/var/lib/attls").exists();
    let dpkg = |args: &[&str]| {
        let root_arg = format!("--root={}", r.display());
        let log = format!("--log={}", pkg.dir.path().join("dpkg.log").display());
        // Chrootless: the maintainer scripts run from the host with DPKG_ROOT set to the scratch root.
        let force = ["--force-not-root", "--force-script-chrootless", "--force-depends"];
        run(Command::new("dpkg").arg(root_arg).arg(log).args(force).args(args).stdin(Stdio::null()))
    };
    let status = || {
        stdout(&run(Command::new("dpkg-query")
            .arg(format!("--admindir={}/var/lib/dpkg", r.display()))
            .args(["-W", "-f=${Status}", "attls"])))
    };
    dpkg(&["-i", pkg.deb.to_str().unwrap()]);
    assert_eq!(status(), "install ok installed");

    // What the repository holds is what is installed.
    for (installed, source) in [
        ("etc/attls/pagent.conf", "dist/etc/pagent.conf"),
        ("lib/systemd/system/pagent.service", "dist/systemd/pagent.service"),
        ("etc/attls/default.pol", "policies/default.pol"),
        ("usr/share/doc/attls/README.md", "README.md"),
    ] {
        assert_eq!(
            std::fs::read(r.join(installed)).unwrap(),
            std::fs::read(root().join(source)).unwrap(),
            "{installed}"
        );
    }
    let copyright = std::fs::read_to_string(r.join("usr/share/doc/attls/copyright")).unwrap();
    for crate_line in [" rustls ", " tokio ", " ring ", " aws-lc-rs ", " aws-lc-sys "] {
        assert!(copyright.contains(crate_line), "the copyright file lists no{crate_line}crate");
    }
    let pagent = r.join("usr/sbin/pagent");
    let version = stdout(&run(Command::new(&pagent).arg("--version")));
    assert_eq!(version.trim(), format!("pagent {}", env!("CARGO_PKG_VERSION")));
    let sections = stdout(&run(Command::new("readelf").arg("-S").arg(&pagent)));
    assert!(!sections.contains(".debug_info"), "the packaged binary is not stripped");
    packaged_pages_and_completions_work(&r);

    // Reinstall, remove (conffiles and state stay), purge (they go, and the enable link).
    let conf = r.join("etc/attls/pagent.conf");
    std::fs::write(&conf, std::fs::read_to_string(&conf).unwrap() + "# edited\n").unwrap();
    dpkg(&["-i", pkg.deb.to_str().unwrap()]);
    assert!(
        std::fs::read_to_string(&conf).unwrap().ends_with("# edited\n"),
        "the edited conffile was replaced"
    );
    let state = r.join("var/lib/attls/dev-keyring/ca.pem");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    std::fs::write(&state, "state").unwrap();
    let wants = r.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink("/lib/systemd/system/pagent.service", wants.join("pagent.service")).unwrap();
    dpkg(&["--remove", "attls"]);
    assert_eq!(status(), "deinstall ok config-files");
    assert!(!pagent.exists() && !r.join("lib/systemd/system/pagent.service").exists());
    assert!(conf.exists() && state.exists(), "remove deleted a conffile or the state");
    dpkg(&["--purge", "attls"]);
    assert!(!r.join("etc/attls").exists(), "purge left /etc/attls");
    assert!(!r.join("var/lib/attls").exists(), "purge left /var/lib/attls");
    assert!(std::fs::symlink_metadata(wants.join("pagent.service")).is_err(), "purge left the enable link");
    assert_eq!(Path::new("/var/lib/attls").exists(), host_state, "the scratch purge touched the host");
}

/// The packaged man pages render, the bash completion parses, zsh's and fish's name pagent.
fn packaged_pages_and_completions_work(r: &Path) {
    let man8 = r.join("usr/share/man/man8");
    for page in files_with_ext(&man8, "gz") {
        let out = run(Command::new("man")
            .args(["--warnings", "-P", "cat", "-l"])
            .arg(&page)
            .env("MANWIDTH", "100"));
        let stem = page.file_name().unwrap().to_string_lossy().trim_end_matches(".8.gz").to_string();
        assert_eq!(stderr(&out), "", "man -l {}", page.display());
        let text = stdout(&out);
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains(&format!("NAME {stem} - ")), "man -l {}:\n{text}", page.display());
    }
    let bash = r.join("usr/share/bash-completion/completions/pagent");
    let out =
        run(Command::new("bash").arg("-c").arg("source \"$1\" && complete -p pagent").arg("-").arg(&bash));
    assert!(stdout(&out).contains("-F _pagent pagent"), "{}", stdout(&out));
    let zsh = std::fs::read_to_string(r.join("usr/share/zsh/vendor-completions/_pagent")).unwrap();
    assert!(zsh.starts_with("#compdef pagent\n"), "{}", &zsh[..zsh.len().min(80)]);
    let fish = std::fs::read_to_string(r.join("usr/share/fish/vendor_completions.d/pagent.fish")).unwrap();
    assert!(fish.contains("complete -c pagent "), "fish completions name no pagent");
}

/// Uid 0, and the kernel lets us make mount, network and PID namespaces.
fn namespaces_refused() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2).map(String::from))
    });
    if uid.as_deref() != Some("0") {
        return Some("installing on the host needs root".into());
    }
    match Command::new("unshare").args(["--mount", "--net", "--pid", "--fork", "true"]).output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!("unshare refused: {}", stderr(&o).trim())),
        Err(e) => Some(format!("unshare: {e}")),
    }
}

/// `unshare --mount --net --pid --fork --kill-child --mount-proc ARGS`, output through files in
/// `dir`, killed after 120 s (the namespace's processes die with it).
fn in_namespaces(args: &[&std::ffi::OsStr], dir: &Path) -> Output {
    let (out_path, err_path) = (dir.join("ns.stdout"), dir.join("ns.stderr"));
    let mut child = Command::new("unshare")
        .args(["--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("run unshare");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for unshare") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().expect("wait for unshare");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output { status, stdout: std::fs::read(&out_path).unwrap(), stderr: std::fs::read(&err_path).unwrap() }
}

#[test]
fn installed_on_this_host_the_unit_starts_the_agent_and_purge_leaves_nothing() {
    if let Some(why) = namespaces_refused() {
        eprintln!("skipping: {why}");
        return;
    }
    let pkg = build("package-host", "zstd");
    let layers = pkg.dir.path().join("layers");
    std::fs::create_dir_all(&layers).unwrap();
    let host_status =
        || Command::new("dpkg-query").args(["-W", "-f=${Status}", "attls"]).output().map(|o| stdout(&o));
    let host_before =
        (host_status().ok(), Path::new("/usr/sbin/pagent").exists(), Path::new("/etc/attls").exists());
    let script = root().join("tests/support/package_host.sh");
    let out = in_namespaces(&[script.as_os_str(), pkg.deb.as_os_str(), layers.as_os_str()], pkg.dir.path());
    let (text, errors) = (stdout(&out), stderr(&out));
    if out.status.code() == Some(77) {
        eprintln!("{}", text.trim_end());
        return;
    }
    assert!(out.status.success(), "tests/support/package_host.sh ({}):\n{text}\n{errors}", out.status);
    assert!(text.ends_with("package lifecycle: every step passed\n"), "{text}\n{errors}");
    for seen in [
        "hello from the attls demo backend",
        "step: ExecReload: /usr/sbin/pagent refresh",
        "step: dpkg --purge attls",
    ] {
        assert!(text.contains(seen), "`{seen}` missing:\n{text}");
    }
    let host_after =
        (host_status().ok(), Path::new("/usr/sbin/pagent").exists(), Path::new("/etc/attls").exists());
    assert_eq!(host_before, host_after, "the host's own dpkg database or files changed");
}

#[test]
fn the_lines_the_shipped_default_prints_work_as_typed_from_another_shell() {
    if let Some(why) = namespaces_refused() {
        eprintln!("skipping: {why}");
        return;
    }
    let dir = TempDir::new("package-run-lines");
    let script = root().join("tests/support/run_lines.sh");
    let pagent = std::ffi::OsStr::new(env!("CARGO_BIN_EXE_pagent"));
    let out = in_namespaces(&[script.as_os_str(), pagent, root().as_os_str()], dir.path());
    let (text, errors) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "tests/support/run_lines.sh ({}):\n{text}\n{errors}", out.status);
    assert!(text.ends_with("client lines: every line worked as typed\n"), "{text}\n{errors}");
    let netstat = text.lines().find_map(|l| l.strip_prefix("Then: ")).expect("a Then: line");
    let config = root().join("policies/pagent.conf");
    assert!(
        netstat.starts_with('/') && netstat.ends_with(&format!(" netstat -c {}", config.display())),
        "{netstat}"
    );
    assert!(text.contains("hello from the attls demo backend"), "{text}");
}

/// The unit's ExecStartPre, `pagent check -c CONFIG` with no policy file: the files the
/// configuration names are the ones checked.
#[test]
fn check_with_only_a_configuration_checks_the_policy_files_it_names() {
    let dir = TempDir::new("package-check-config");
    let rule = "TTLSRule clear~21\n{\n  LocalPortRange 21\n  Direction Inbound\n  TTLSGroupActionRef gOff\n}\n\
                TTLSGroupAction gOff\n{\n  TTLSEnabled Off\n}\n";
    std::fs::write(dir.path().join("good.pol"), rule).unwrap();
    std::fs::write(dir.path().join("bad.pol"), rule.replace("LocalPortRange 21", "LocalPortRange 99999"))
        .unwrap();
    for (policy, code, said) in [("good.pol", 0, "policy valid: 1 rule"), ("bad.pol", 1, "bad.pol:3:")] {
        let conf = dir.path().join(format!("{policy}.conf"));
        std::fs::write(&conf, format!("TTLSConfig {policy}\n")).unwrap();
        let out =
            Command::new(env!("CARGO_BIN_EXE_pagent")).arg("check").arg("-c").arg(&conf).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{policy}: {}", stderr(&out));
        assert!(stderr(&out).contains(said), "{policy}: `{said}` missing from {}", stderr(&out));
    }
    let bare = Command::new(env!("CARGO_BIN_EXE_pagent")).arg("check").output().unwrap();
    assert_eq!(bare.status.code(), Some(2), "no file and no -c is a usage error");
}
