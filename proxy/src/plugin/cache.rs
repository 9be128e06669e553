//! The plugin cache: every plugin library is copied into a private directory and
//! loaded from the copy, named by the SHA-256 of its content.
//!
//! Why: the dynamic loader maps a library's file. Overwriting a loaded plugin in place
//! (`cp` keeps the inode) changes the code under the running proxy, which crashes on
//! the next call; and `dlopen` of a path already loaded returns the old library, so a
//! reload after a rebuild would silently keep the old code. A copy per content avoids
//! both: a loaded copy is never written again, and new content is a new file.
//!
//! How: the hash is computed from the bytes as they are copied (no window between
//! hashing and copying), into a temporary name in the cache directory; the copy is
//! fsynced and renamed to `<sha256>.so` (atomic; an existing copy of the same content
//! is kept as is).
//!
//! The directory (`server.plugin_cache_dir`, default [`default_dir`]) is created with
//! mode 0700 and refused when another user owns it, when group or others may write
//! to it (they could swap a library before it is loaded), or when it is on a `noexec`
//! mount (the loader could not map the copies). Several hookgate processes may share
//! it. Nothing is ever deleted: a copy may be loaded by another process, and a process
//! cannot tell which; old copies are small and are removed by hand (or by a reboot,
//! under the runtime directory) when no hookgate runs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

/// A checked cache directory.
#[derive(Clone, Debug)]
pub struct PluginCache {
    dir: PathBuf,
}

/// What decides whether a directory may hold the cache.
struct DirFacts {
    is_dir: bool,
    owner: u32,
    mode: u32,
    noexec: bool,
}

impl DirFacts {
    /// Why the directory is refused for a process running as `me`, if it is.
    fn refusal(&self, me: u32) -> Option<String> {
        if !self.is_dir {
            return Some("not a directory".into());
        }
        if self.owner != me {
            return Some(format!(
                "owned by uid {}, not by this process's uid {me}",
                self.owner
            ));
        }
        if self.mode & 0o022 != 0 {
            return Some(format!(
                "writable by group or others (mode {:o})",
                self.mode & 0o777
            ));
        }
        if self.noexec {
            return Some(
                "on a noexec mount: the dynamic loader cannot map libraries from it".into(),
            );
        }
        None
    }
}

/// A plugin library's copy in the cache.
#[derive(Clone, Debug)]
pub struct Cached {
    /// The copy, `<dir>/<sha256>.so`.
    pub path: PathBuf,
    /// The SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// Why the cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// It cannot be created or inspected.
    #[error("`server.plugin_cache_dir` {dir}: {source}")]
    Io {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// It is not safe or not usable.
    #[error("`server.plugin_cache_dir` {dir}: {reason}; expected a private directory on a mount that allows executables")]
    Unsafe {
        /// The directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The default cache directory: `$XDG_RUNTIME_DIR/hookgate/plugins` when the runtime
/// directory is set, else `/tmp/hookgate-<uid>/plugins`.
pub fn default_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(runtime) => PathBuf::from(runtime).join("hookgate").join("plugins"),
        None => std::env::temp_dir()
            .join(format!("hookgate-{}", rustix::process::geteuid().as_raw()))
            .join("plugins"),
    }
}

impl PluginCache {
    /// Creates `dir` (and missing parents, mode 0700) and checks it.
    pub fn open(dir: &Path) -> Result<PluginCache, CacheError> {
        let io_error = |source| CacheError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error)?;
        let unsafe_dir = |reason: String| CacheError::Unsafe {
            dir: dir.to_path_buf(),
            reason,
        };
        let meta = fs::metadata(dir).map_err(io_error)?;
        let mount = rustix::fs::statvfs(dir).map_err(|e| io_error(e.into()))?;
        let facts = DirFacts {
            is_dir: meta.is_dir(),
            owner: meta.uid(),
            mode: meta.mode(),
            noexec: mount.f_flag.contains(rustix::fs::StatVfsMountFlags::NOEXEC),
        };
        if let Some(reason) = facts.refusal(rustix::process::geteuid().as_raw()) {
            return Err(unsafe_dir(reason));
        }
        Ok(PluginCache {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Copies `source` into the cache (hashing while copying) and returns the copy.
    pub fn install(&self, source: &Path) -> io::Result<Cached> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let temp = self.dir.join(format!(
            ".incoming-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let result = copy_hashing(source, &temp).and_then(|sha256| {
            let path = self.dir.join(format!("{sha256}.so"));
            if path.is_file() {
                // The same content is already here (and may be loaded): keep it.
                fs::remove_file(&temp)?;
            } else {
                fs::rename(&temp, &path)?;
                File::open(&self.dir)?.sync_all()?;
            }
            Ok(Cached { path, sha256 })
        });
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }
}

/// Copies `source` to a new file `temp` (mode 0500), fsynced; returns the SHA-256 of
/// the bytes copied.
fn copy_hashing(source: &Path, temp: &Path) -> io::Result<String> {
    let mut from = File::open(source)?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o500)
        .open(temp)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
    }
    to.sync_all()?;
    Ok(crate::hex::lower(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_named_by_content_and_shared() {
        let root = tempfile::tempdir().unwrap();
        let cache = PluginCache::open(&root.path().join("cache")).unwrap();
        let meta = fs::metadata(cache.dir()).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
        let source = root.path().join("lib.so");
        fs::write(&source, b"abc").unwrap();
        let first = cache.install(&source).unwrap();
        assert_eq!(
            first.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(fs::read(&first.path).unwrap(), b"abc");
        let again = cache.install(&source).unwrap();
        assert_eq!(again.path, first.path);
        fs::write(&source, b"abd").unwrap();
        let changed = cache.install(&source).unwrap();
        assert_ne!(changed.path, first.path);
        assert_eq!(fs::read(&first.path).unwrap(), b"abc", "old copy untouched");
        let leftovers = fs::read_dir(cache.dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".incoming"))
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn unsafe_or_unusable_directories_are_refused() {
        let ok = DirFacts {
            is_dir: true,
            owner: 1000,
            mode: 0o40700,
            noexec: false,
        };
        assert_eq!(ok.refusal(1000), None);
        assert!(ok.refusal(0).unwrap().contains("owned by uid 1000"));
        let group_writable = DirFacts {
            mode: 0o40770,
            ..ok
        };
        assert!(group_writable.refusal(1000).unwrap().contains("writable"));
        let noexec = DirFacts { noexec: true, ..ok };
        assert!(noexec.refusal(1000).unwrap().contains("noexec"));
        let file = DirFacts {
            is_dir: false,
            ..ok
        };
        assert!(file.refusal(1000).unwrap().contains("not a directory"));
    }

    #[test]
    fn writable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cache");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let e = PluginCache::open(&dir).unwrap_err().to_string();
        assert!(e.contains("writable by group or others"), "{e}");
        assert!(e.contains("server.plugin_cache_dir"), "{e}");
    }

    #[test]
    fn a_missing_source_is_an_error_and_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let cache = PluginCache::open(&root.path().join("c")).unwrap();
        assert!(cache.install(&root.path().join("missing.so")).is_err());
    }
}
