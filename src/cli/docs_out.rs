//! `pagent completions bash|zsh|fish` and `pagent man DIR`: shell completions and section 8 man pages
//! generated from the clap definitions of [`super::Cli`], so they describe exactly the command line
//! this binary parses.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, ValueEnum};

/// The section of every page: pagent is a system administration tool and daemon.
const SECTION: &str = "8";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell the script is for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Where to write pagent.8 and pagent-SUBCOMMAND.8 (created if missing).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub fn completions(a: CompletionsArgs) -> ExitCode {
    let shell = match a.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "pagent", &mut script);
    say_raw!("{}", String::from_utf8_lossy(&script));
    ExitCode::SUCCESS
}

pub fn man(a: ManArgs) -> ExitCode {
    if let Err(e) = std::fs::create_dir_all(&a.dir) {
        eprintln!("error: creating {}: {e}", a.dir.display());
        return ExitCode::from(1);
    }
    for page in pages() {
        match write_page(&page, &a.dir) {
            Ok(path) => say!("{}", path.display()),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}

/// The page of `pagent` itself, then one per visible subcommand (`help` excepted), in the order
/// `pagent --help` lists them.
fn pages() -> Vec<clap_mangen::Man> {
    let mut root = super::Cli::command().disable_help_subcommand(true);
    // Building gives each subcommand its display name (`pagent-netstat`, the page's name and title)
    // and its bin name (`pagent netstat`, used in the synopsis).
    root.build();
    let version = root.get_version().unwrap_or_default().to_string();
    let subs: Vec<clap::Command> = root.get_subcommands().filter(|s| !s.is_hide_set()).cloned().collect();
    std::iter::once(root)
        .chain(subs)
        .map(|cmd| {
            clap_mangen::Man::new(cmd).section(SECTION).source(format!("attls {version}")).manual("attls")
        })
        .collect()
}

fn write_page(page: &clap_mangen::Man, dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join(page.get_filename());
    let mut roff = Vec::new();
    page.render(&mut roff).map_err(|e| format!("rendering {}: {e}", path.display()))?;
    std::fs::write(&path, roff).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}
