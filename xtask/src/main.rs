//! `cargo xtask`: the project's set-up and its two commands, with nothing installed by hand.
//!
//! ```text
//! cargo xtask extract [ARGS]   the main job: `instructor extract ARGS` (release build)
//! cargo xtask test             the whole test suite: `cargo test --workspace --all-features`
//! cargo xtask setup [--check]  only install (or, with --check, only look for) what the build needs
//! ```
//!
//! The embedded model's build (llama.cpp through `llama-cpp-sys-2`) needs `cmake` and libclang,
//! and the tests need Python with the official SDKs. Whatever is missing is installed with the
//! system's package manager when this runs as root (or with `sudo` without a password);
//! otherwise one paragraph says what to install, for apt, dnf and Homebrew. No dependencies of
//! its own, so it builds in seconds on a fresh machine.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let result = match task.as_str() {
        "extract" => setup(Need::Build, false).and_then(|()| extract(&rest)),
        "test" => setup(Need::Tests, false).and_then(|()| test(&rest)),
        "setup" => setup(Need::Tests, rest.iter().any(|a| a == "--check")),
        _ => Err(Failure::Usage(
            "usage: cargo xtask extract [ARGS] | cargo xtask test [ARGS] | cargo xtask setup [--check]".to_owned(),
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("{m}");
            ExitCode::from(2)
        }
        Err(Failure::Missing(m)) => {
            eprintln!("{m}");
            ExitCode::from(3)
        }
        Err(Failure::Failed(code)) => ExitCode::from(code),
    }
}

enum Failure {
    Usage(String),
    /// What the build needs is missing and could not be installed: the message says what to do.
    Missing(String),
    /// A command failed with this exit status.
    Failed(u8),
}

#[derive(Clone, Copy, PartialEq)]
enum Need {
    /// cmake and libclang, for llama.cpp.
    Build,
    /// Those, and Python's venv module for the SDKs the conformance tests use.
    Tests,
}

/// What is missing, as package names per package manager.
#[derive(Default)]
struct Missing {
    names: Vec<&'static str>,
    apt: Vec<&'static str>,
    dnf: Vec<&'static str>,
    brew: Vec<&'static str>,
}

fn find_missing(need: Need) -> Missing {
    let mut missing = Missing::default();
    if which("cmake").is_none() {
        missing.names.push("cmake");
        missing.apt.push("cmake");
        missing.dnf.push("cmake");
        missing.brew.push("cmake");
    }
    if libclang().is_none() {
        missing.names.push("libclang");
        missing.apt.push("libclang-dev");
        missing.dnf.push("clang-devel");
        missing.brew.push("llvm");
    }
    if need == Need::Tests && !python_venv() {
        missing.names.push("Python 3 with venv");
        missing.apt.push("python3-venv");
        missing.dnf.push("python3");
        missing.brew.push("python");
    }
    missing
}

fn setup(need: Need, check_only: bool) -> Result<(), Failure> {
    let missing = find_missing(need);
    if missing.names.is_empty() {
        return Ok(());
    }
    if !check_only && env::var_os("XTASK_NO_INSTALL").is_none() {
        if let Some(installer) = installer() {
            eprintln!("xtask: installing {} with {}", missing.names.join(", "), installer.describe());
            if installer.install(&missing) {
                let still = find_missing(need);
                if still.names.is_empty() {
                    return Ok(());
                }
                return Err(Failure::Missing(advice(&still, "were installed but are still not found")));
            }
        }
    }
    Err(Failure::Missing(advice(&missing, "cannot be installed from here (not root, or no package manager)")))
}

fn advice(missing: &Missing, why: &str) -> String {
    format!(
        "xtask: the build needs {} (llama.cpp, the embedded model, is built with cmake and its Rust \
         bindings with libclang; the tests use Python's venv for the official SDKs), which {why}. \
         Install them and run the command again: on Debian or Ubuntu `sudo apt-get install -y {}`; \
         on Fedora `sudo dnf install -y {}`; on macOS `brew install {}`. If libclang is installed \
         somewhere unusual, point LIBCLANG_PATH at the directory holding libclang.so. (Only the \
         library against hosted models? `cargo add instructor-rs` needs none of this.)",
        missing.names.join(", "),
        missing.apt.join(" "),
        missing.dnf.join(" "),
        missing.brew.join(" "),
    )
}

enum Installer {
    Apt { sudo: bool },
    Dnf { sudo: bool },
    Brew,
}

impl Installer {
    fn describe(&self) -> &'static str {
        match self {
            Installer::Apt { sudo: false } => "apt-get",
            Installer::Apt { sudo: true } => "sudo apt-get",
            Installer::Dnf { sudo: false } => "dnf",
            Installer::Dnf { sudo: true } => "sudo dnf",
            Installer::Brew => "brew",
        }
    }

    fn install(&self, missing: &Missing) -> bool {
        let run = |sudo: bool, program: &str, args: &[&str]| {
            let mut cmd = if sudo {
                let mut c = Command::new("sudo");
                c.arg("-n").arg(program);
                c
            } else {
                Command::new(program)
            };
            cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
            cmd.status().is_ok_and(|s| s.success())
        };
        match self {
            Installer::Apt { sudo } => {
                let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
                args.extend(&missing.apt);
                run(*sudo, "apt-get", &["update", "-qq"]) && run(*sudo, "apt-get", &args)
            }
            Installer::Dnf { sudo } => {
                let mut args = vec!["install", "-y", "-q"];
                args.extend(&missing.dnf);
                run(*sudo, "dnf", &args)
            }
            Installer::Brew => {
                let mut args = vec!["install"];
                args.extend(&missing.brew);
                run(false, "brew", &args)
            }
        }
    }
}

/// A package manager this process may use: as root, or with `sudo` that asks no password.
fn installer() -> Option<Installer> {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let sudo = !root && Command::new("sudo").args(["-n", "true"]).status().is_ok_and(|s| s.success());
    if root || sudo {
        if which("apt-get").is_some() {
            return Some(Installer::Apt { sudo });
        }
        if which("dnf").is_some() {
            return Some(Installer::Dnf { sudo });
        }
    }
    if cfg!(target_os = "macos") && which("brew").is_some() {
        return Some(Installer::Brew);
    }
    None
}

fn which(program: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// libclang where `clang-sys` looks for it: `LIBCLANG_PATH`, else the usual system directories.
fn libclang() -> Option<PathBuf> {
    let is_lib = |p: &Path| p.file_name().and_then(|n| n.to_str()).is_some_and(is_libclang);
    let search = |dir: &Path| -> Option<PathBuf> {
        std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| is_lib(p))
    };
    if let Some(dir) = env::var_os("LIBCLANG_PATH") {
        return search(Path::new(&dir));
    }
    let mut dirs: Vec<PathBuf> =
        ["/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"]
            .iter()
            .map(PathBuf::from)
            .collect();
    for root in ["/usr/lib", "/usr/lib64"] {
        if let Ok(entries) = std::fs::read_dir(root) {
            dirs.extend(
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("llvm")))
                    .map(|p| p.join("lib")),
            );
        }
    }
    dirs.extend(["/opt/homebrew/opt/llvm/lib", "/usr/local/opt/llvm/lib"].iter().map(PathBuf::from));
    dirs.iter().find_map(|d| search(d))
}

/// Whether a file name is libclang itself (`libclang.so`, `libclang-14.so.1`, `libclang.dylib`).
/// `libclang-cpp` is LLVM's C++ library, which some packages install alone: bindgen cannot use it.
fn is_libclang(name: &str) -> bool {
    name == "libclang.dylib"
        || (name.starts_with("libclang") && name.contains(".so") && !name.starts_with("libclang-cpp"))
}

fn python_venv() -> bool {
    Command::new("python3").args(["-m", "venv", "--help"]).output().is_ok_and(|o| o.status.success())
}

fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn status(cmd: &mut Command) -> Result<(), Failure> {
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(Failure::Failed(s.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1))),
        Err(e) => {
            eprintln!("xtask: cannot run {cmd:?}: {e}");
            Err(Failure::Failed(1))
        }
    }
}

/// The main job: the `instructor` binary, built in release mode, with the given arguments.
fn extract(args: &[String]) -> Result<(), Failure> {
    status(cargo().args(["run", "--release", "--quiet", "-p", "instructor-cli", "--", "extract"]).args(args))
}

/// The tests: the SDKs' virtual environment first (scripts/py-venv.sh), then the suite.
fn test(args: &[String]) -> Result<(), Failure> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
    status(Command::new("bash").arg(root.join("scripts/py-venv.sh")))?;
    status(cargo().args(["test", "--workspace", "--all-features"]).args(args))
}

#[cfg(test)]
mod tests {
    use super::is_libclang;

    #[test]
    fn libclang_cpp_alone_is_not_libclang() {
        for name in ["libclang.so", "libclang.so.1", "libclang-14.so.1", "libclang-14.so", "libclang.dylib"] {
            assert!(is_libclang(name), "{name}");
        }
        for name in ["libclang-cpp.so.14", "libclang-cpp.so", "libclangBasic.a", "libLLVM-14.so"] {
            assert!(!is_libclang(name), "{name}");
        }
    }
}
