//! Path normalisation: the one path route rules, plugins and the backend see.
//!
//! 1. Percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded;
//!    `%2F` is decoded to `/` (`encoded_slashes = "decode"`, the default) or refused
//!    (`"reject"`); every other escape is kept, its hex digits uppercased. A `%` not
//!    followed by two hex digits is refused.
//! 2. Runs of `/` are merged into one (nginx's `merge_slashes`).
//! 3. `.` segments are removed and `..` segments remove the one before them (RFC 3986
//!    §5.2.4); a `..` above the root is refused (nginx answers 400 too).
//!
//! A trailing slash is kept (`/a/b/` stays, `/a/b/..` is `/a/`). So `/%61dmin`,
//! `//admin`, `/x/../admin`, `/x/%2e%2e/admin` and `/admin%2F` all become paths that
//! start with `/admin`, and a `path_prefix = "/admin/"` rule sees them as such.

use std::borrow::Cow;

use crate::config::EncodedSlashes;

/// Why a path is refused (all 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// A `..` segment above the root.
    EscapesRoot,
    /// A `%` not followed by two hex digits, or an escape that decodes to bytes that
    /// are not text.
    BadEscape,
    /// `%2F` under `encoded_slashes = "reject"`.
    EncodedSlash,
}

/// The normalised form of `path` (which starts with `/`); borrowed when it is already
/// normal (the common case costs one scan).
pub fn normalize(path: &str, slashes: EncodedSlashes) -> Result<Cow<'_, str>, PathError> {
    if !needs_work(path.as_bytes()) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode(path.as_bytes(), slashes)?;
    Ok(Cow::Owned(resolve(&decoded)?))
}

/// Whether `path` has an escape, a double slash or a segment starting with a dot.
fn needs_work(path: &[u8]) -> bool {
    path.iter().enumerate().any(|(i, &b)| {
        b == b'%' || (b == b'/' && matches!(path.get(i + 1), Some(b'/') | Some(b'.')))
    })
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Step 1: escapes decoded or uppercased.
fn decode(path: &[u8], slashes: EncodedSlashes) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let (Some(hi), Some(lo)) = (
            path.get(i + 1).copied().and_then(hex),
            path.get(i + 2).copied().and_then(hex),
        ) else {
            return Err(PathError::BadEscape);
        };
        let byte = hi << 4 | lo;
        if is_unreserved(byte) {
            out.push(byte);
        } else if byte == b'/' {
            match slashes {
                EncodedSlashes::Decode => out.push(b'/'),
                EncodedSlashes::Reject => return Err(PathError::EncodedSlash),
            }
        } else {
            const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
            out.extend_from_slice(&[b'%', DIGITS[usize::from(hi)], DIGITS[usize::from(lo)]]);
        }
        i += 3;
    }
    Ok(out)
}

/// Steps 2 and 3: slashes merged, dot segments resolved.
fn resolve(path: &[u8]) -> Result<String, PathError> {
    let mut segments: Vec<&[u8]> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split(|&b| b == b'/').skip(1) {
        trailing_slash = true;
        match segment {
            b"" | b"." => {}
            b".." => {
                if segments.pop().is_none() {
                    return Err(PathError::EscapesRoot);
                }
            }
            _ => {
                segments.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for segment in &segments {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    if trailing_slash || segments.is_empty() {
        out.push(b'/');
    }
    String::from_utf8(out).map_err(|_| PathError::BadEscape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(path: &str) -> Result<String, PathError> {
        normalize(path, EncodedSlashes::Decode).map(Cow::into_owned)
    }

    #[test]
    fn normal_paths_are_borrowed() {
        for path in ["/", "/a/b", "/a/b/", "/a.b/c.", "/a-b_c~d", "/a+b;c=d"] {
            assert!(matches!(
                normalize(path, EncodedSlashes::Decode),
                Ok(Cow::Borrowed(_))
            ));
        }
    }

    #[test]
    fn shapes_that_hide_a_prefix_are_normalised() {
        let cases = [
            ("/a/./b/../c", "/a/c"),
            ("/%61dmin/x", "/admin/x"),
            ("/a/%2e%2e/admin/x", "/admin/x"),
            ("/a/%2E%2E/admin/x", "/admin/x"),
            ("/admin%2Fx", "/admin/x"),
            ("/admin%2fx", "/admin/x"),
            ("//admin//x", "/admin/x"),
            ("/x/../admin/x", "/admin/x"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/", "/a/b/"),
            ("/..a/.b", "/..a/.b"),
            ("/a/..", "/"),
            ("/.", "/"),
            ("//", "/"),
            ("/a%3fb", "/a%3Fb"),
            ("/a%20b", "/a%20b"),
            ("/%7Euser", "/~user"),
        ];
        for (path, want) in cases {
            assert_eq!(norm(path).as_deref(), Ok(want), "{path}");
        }
    }

    #[test]
    fn escaping_the_root_is_refused() {
        for path in ["/..", "/../x", "/%2e%2e/x", "/a/../../x", "/a/..%2F..%2Fb"] {
            assert_eq!(norm(path), Err(PathError::EscapesRoot), "{path}");
        }
    }

    #[test]
    fn bad_escapes_are_refused() {
        for path in ["/%zz", "/a%2", "/a%", "/%g0"] {
            assert_eq!(norm(path), Err(PathError::BadEscape), "{path}");
        }
    }

    #[test]
    fn encoded_slashes_can_be_refused() {
        assert_eq!(
            normalize("/a%2Fb", EncodedSlashes::Reject),
            Err(PathError::EncodedSlash)
        );
        assert_eq!(
            normalize("/a%2eb", EncodedSlashes::Reject).as_deref(),
            Ok("/a.b")
        );
    }
}
