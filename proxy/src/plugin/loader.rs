//! Opening a plugin library and checking that it is a compatible hookgate plugin
//! (DESIGN §2.6). Libraries are never unloaded: abi_stable leaks them on purpose, since
//! unloading a Rust cdylib is unsound.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use abi_stable::library::{lib_header_from_path, LibraryError, RootModule};
use abi_stable::sabi_types::VersionNumber;
use hookgate_plugin_api::abi::{PluginModRef, API_VERSION};

use super::cache::PluginCache;
use super::manifest::Manifest;

/// An opened, checked plugin library.
#[derive(Clone)]
pub struct Library {
    /// The root module: manifest and init.
    pub module: PluginModRef,
    /// The SHA-256 of the file's content when it was loaded (its copy in the
    /// [plugin cache](super::cache) is what was loaded).
    pub sha256: Arc<str>,
}

/// Why a library cannot be used. Each message is one line that names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Nothing at that path.
    #[error("plugin {path}: file not found")]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// The dynamic loader refused the file.
    #[error("plugin {path}: not a shared library: {cause}")]
    NotSharedLibrary {
        /// The path.
        path: PathBuf,
        /// The dynamic loader's message.
        cause: String,
    },
    /// A shared library without a hookgate root module.
    #[error("plugin {path}: not a hookgate plugin: {cause}")]
    NotPlugin {
        /// The path.
        path: PathBuf,
        /// What is missing.
        cause: String,
    },
    /// Built against an API version this proxy does not support.
    #[error(
        "plugin {path}: built against hookgate-plugin-api {plugin}, but this hookgate \
         provides {host} (for 0.x the minor version must match and the plugin's patch \
         must not be newer); rebuild the plugin against {host}"
    )]
    IncompatibleVersion {
        /// The path.
        path: PathBuf,
        /// The plugin's API version.
        plugin: String,
        /// The host's API version.
        host: &'static str,
    },
    /// Same version, different layout of the ABI types.
    #[error(
        "plugin {path}: incompatible ABI layout (its hookgate-plugin-api types differ from \
         this hookgate's {host}): {detail}"
    )]
    IncompatibleLayout {
        /// The path.
        path: PathBuf,
        /// The host's API version.
        host: &'static str,
        /// The first line of abi_stable's report.
        detail: String,
    },
    /// Any other failure to load the root module.
    #[error("plugin {path}: cannot load: {detail}")]
    Other {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The file's content is not the one its entry pins (`sha256`).
    #[error(
        "plugin {path}: its content's SHA-256 is {actual}, not the {expected} its entry pins \
         (`sha256`): refused, not loaded"
    )]
    Pinned {
        /// The path.
        path: PathBuf,
        /// The pinned hash.
        expected: String,
        /// The file's.
        actual: String,
    },
    /// The plugin's init returned an error (or panicked).
    #[error("plugin {path}: init of `{name}` failed: {message}")]
    Init {
        /// The path.
        path: PathBuf,
        /// The instance name.
        name: String,
        /// The plugin's message.
        message: String,
    },
    /// The library cannot be copied into the plugin cache.
    #[error("plugin {path}: cannot copy it into the plugin cache {cache}: {source}")]
    Cache {
        /// The path.
        path: PathBuf,
        /// The cache directory.
        cache: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The instance's config file cannot be read.
    #[error("plugin {path}: {source}")]
    Settings {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Init registered a handler at a point its manifest does not declare.
    #[error(
        "plugin {path}: `{name}` registered a handler at {point}, which its manifest does \
         not declare (declared: {declared})"
    )]
    UndeclaredPoint {
        /// The path.
        path: PathBuf,
        /// The instance name.
        name: String,
        /// The point.
        point: &'static str,
        /// The declared points.
        declared: String,
    },
}

impl Library {
    /// Opens `path` and checks it: a file, a shared library, a hookgate plugin, a
    /// compatible API version and ABI layout. What is loaded is the file's copy in
    /// `cache` (the file itself may change afterwards). Does not run the plugin's init.
    /// With `pinned`, a file whose content has another SHA-256 is refused before it is
    /// loaded.
    pub fn open(
        path: &Path,
        cache: &PluginCache,
        pinned: Option<&str>,
    ) -> Result<Library, LoadError> {
        let path_buf = || path.to_path_buf();
        if !path.exists() {
            return Err(LoadError::NotFound { path: path_buf() });
        }
        if !path.is_file() {
            return Err(LoadError::NotSharedLibrary {
                path: path_buf(),
                cause: "it is not a regular file".into(),
            });
        }
        let cached = cache.install(path).map_err(|source| LoadError::Cache {
            path: path_buf(),
            cache: cache.dir().to_path_buf(),
            source,
        })?;
        check_pin(path, pinned, &cached.sha256)?;
        // abi_stable's loader: dlopen, then look up its library header symbol.
        let header = lib_header_from_path(&cached.path).map_err(|e| match e {
            LibraryError::OpenError { err, .. } => LoadError::NotSharedLibrary {
                path: path_buf(),
                cause: strip_path(&err.to_string(), &cached.path),
            },
            LibraryError::GetSymbolError { .. } => LoadError::NotPlugin {
                path: path_buf(),
                cause: "it exports no abi_stable root module (was it built with \
                        hookgate_plugin_api::export_plugin!?)"
                    .into(),
            },
            other => classify(other, path),
        })?;
        let consts = header.root_mod_consts();
        if consts.name().as_str() != PluginModRef::NAME {
            return Err(LoadError::NotPlugin {
                path: path_buf(),
                cause: format!(
                    "its abi_stable root module is `{}`, not `{}`",
                    consts.name(),
                    PluginModRef::NAME
                ),
            });
        }
        check_version(path, consts.version_strings().version.as_str())?;
        let module = header
            .init_root_module::<PluginModRef>()
            .map_err(|e| classify(e, path))?;
        Ok(Library {
            module,
            sha256: cached.sha256.into(),
        })
    }

    /// The manifest, as the library states it.
    pub fn manifest(&self) -> Manifest {
        Manifest::from(&self.module.manifest())
    }
}

/// DESIGN §2.6, stricter than abi_stable's own check (which lets a 0.x plugin with a
/// newer minor through to the layout check): for 0.x the minor must match and the
/// plugin's patch must not be newer than the host's; for x ≥ 1 the major must match
/// and the plugin's minor must not be newer.
/// Refuses `path` if its entry pins another content than `actual` (a SHA-256).
pub fn check_pin(path: &Path, pinned: Option<&str>, actual: &str) -> Result<(), LoadError> {
    match pinned {
        Some(expected) if expected != actual => Err(LoadError::Pinned {
            path: path.to_path_buf(),
            expected: expected.to_owned(),
            actual: actual.to_owned(),
        }),
        _ => Ok(()),
    }
}

fn check_version(path: &Path, plugin: &str) -> Result<(), LoadError> {
    let incompatible = || LoadError::IncompatibleVersion {
        path: path.to_path_buf(),
        plugin: plugin.to_owned(),
        host: API_VERSION,
    };
    let parse =
        |v: &'static str| VersionNumber::new(abi_stable::sabi_types::VersionStrings::new(v)).ok();
    // Internal: VersionStrings wants 'static; parse the plugin's by hand instead.
    let host = parse(API_VERSION).ok_or_else(incompatible)?;
    let mut parts = plugin.split('.').map(|p| {
        p.split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|d| d.parse::<u32>().ok())
    });
    let (Some(Some(major)), Some(Some(minor)), Some(Some(patch))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(incompatible());
    };
    let compatible = if host.major == 0 {
        major == 0 && minor == host.minor && patch <= host.patch
    } else {
        major == host.major && minor <= host.minor
    };
    if compatible {
        Ok(())
    } else {
        Err(incompatible())
    }
}

fn classify(error: LibraryError, path: &Path) -> LoadError {
    match error {
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => {
            LoadError::IncompatibleVersion {
                path: path.to_path_buf(),
                plugin: actual_version.to_string(),
                host: API_VERSION,
            }
        }
        LibraryError::AbiInstability(report) => {
            let report = report.to_string();
            tracing::debug!(path = %path.display(), %report, "ABI layout mismatch");
            LoadError::IncompatibleLayout {
                path: path.to_path_buf(),
                host: API_VERSION,
                detail: summarize_layout_report(&report),
            }
        }
        LibraryError::InvalidAbiHeader(found) => LoadError::Other {
            path: path.to_path_buf(),
            detail: format!("built with an incompatible abi_stable (header {found:?})"),
        },
        other => LoadError::Other {
            path: path.to_path_buf(),
            detail: first_line(&other.to_string()),
        },
    }
}

/// The dynamic loader repeats the path in its message; drop it.
fn strip_path(message: &str, path: &Path) -> String {
    let path = path.display().to_string();
    message
        .replace(&format!("{path}: "), "")
        .replace(&path, "")
        .trim()
        .to_owned()
}

/// abi_stable's layout report runs to hundreds of lines; its verdicts are the blocks
/// `Error:<what>` / `Expected:` / `<value>` / `Found:` / `<value>` at the end.
fn summarize_layout_report(report: &str) -> String {
    let lines: Vec<&str> = report.lines().map(str::trim).collect();
    let value_after = |label: &str, from: usize| {
        lines[from..]
            .iter()
            .position(|l| *l == label)
            .and_then(|i| lines[from + i + 1..].iter().find(|l| !l.is_empty()))
            .copied()
    };
    let verdicts: Vec<String> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let what = line.strip_prefix("Error:")?.trim();
            Some(
                match (value_after("Expected:", i), value_after("Found:", i)) {
                    (Some(expected), Some(found)) => {
                        format!("{what}: expected `{expected}`, found `{found}`")
                    }
                    _ => what.to_owned(),
                },
            )
        })
        .collect();
    if verdicts.is_empty() {
        first_line(report)
    } else {
        verdicts.join("; ")
    }
}

/// The first meaningful line of a multi-line report.
fn first_line(report: &str) -> String {
    report
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no detail)")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(v: &str) -> bool {
        check_version(Path::new("p.so"), v).is_ok()
    }

    #[test]
    fn version_rule_is_design_s() {
        // The host is this crate's API_VERSION; build versions around it.
        let host: Vec<u32> = API_VERSION.split('.').map(|p| p.parse().unwrap()).collect();
        let (major, minor, patch) = (host[0], host[1], host[2]);
        assert!(version(API_VERSION));
        assert!(!version(&format!("{major}.{}.0", minor + 1)));
        assert!(!version(&format!("{major}.{minor}.{}", patch + 1)));
        assert!(!version("9.0.0"));
        assert!(!version("garbage"));
        if patch > 0 {
            assert!(version(&format!("{major}.{minor}.{}", patch - 1)));
        }
    }

    #[test]
    fn layout_report_is_summarized() {
        let report = "Compared <this>:\n  lots\n\nError:mismatched package\nExpected:\n    a-api\nFound:\n    b-fixture\n";
        assert_eq!(
            summarize_layout_report(report),
            "mismatched package: expected `a-api`, found `b-fixture`"
        );
        assert_eq!(summarize_layout_report("\n just this \n"), "just this");
    }

    #[test]
    fn missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PluginCache::open(dir.path()).unwrap();
        let Err(e) = Library::open(Path::new("/nonexistent/libx.so"), &cache, None) else {
            panic!("a missing file must not load");
        };
        assert_eq!(e.to_string(), "plugin /nonexistent/libx.so: file not found");
    }
}
