//! Serving one request from a [`Site`]: the URL path → a file inside the root → a reply.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::fs::{self, Metadata};
use std::io;
use std::path::{self, Path, PathBuf};

use hookgate_plugin_api::{Outcome, Redirect, Reply, Request};
use httpdate::HttpDate;
use percent_encoding::percent_decode_str;

use crate::config::Site;

/// Answers a request under the site's prefix; `GoOn` for any other.
pub(crate) fn serve(site: &Site, req: &mut Request<'_>) -> Outcome {
    let Some(rest) = req.path().strip_prefix(site.prefix.as_str()) else {
        return Outcome::GoOn;
    };
    let head = match req.method() {
        "GET" => false,
        "HEAD" => true,
        _ => return Outcome::Respond(error(405).header("allow", "GET, HEAD")),
    };
    let Some(path) = file_path(&site.root, rest) else {
        return Outcome::Respond(error(400));
    };
    let slash = rest.is_empty() || rest.ends_with('/');
    match resolve(site, &path, slash) {
        Ok(Found::File(path, meta)) => Outcome::Respond(reply(req, &path, &meta, head)),
        Ok(Found::Directory) => {
            // As nginx does: relative links in the index then resolve inside it.
            let location = match req.query() {
                Some(query) => format!("{}/?{query}", req.path()),
                None => format!("{}/", req.path()),
            };
            Outcome::Redirect(Redirect::to(&location).status(301))
        }
        Err(status) => Outcome::Respond(error(status)),
    }
}

enum Found {
    File(PathBuf, Metadata),
    /// A directory asked for without the trailing slash.
    Directory,
}

/// The decoded path below the prefix, joined to `root`; `None` if it is not UTF-8,
/// holds a NUL, or has a `..` segment (refused, whether or not it would stay inside).
fn file_path(root: &Path, rest: &str) -> Option<PathBuf> {
    // Borrowed unless the path has escapes.
    let decoded = percent_decode_str(rest).decode_utf8().ok()?;
    // Sized once: the segments then fit without growing it.
    let mut path = PathBuf::with_capacity(root.as_os_str().len() + 1 + decoded.len());
    path.push(root);
    // Split after decoding, so that `..%2F` is a `..` segment too.
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return None,
            s if s.contains('\0') => return None,
            s => path.push(s),
        }
    }
    Some(path)
}

/// The regular file to send, or the status to answer with.
fn resolve(site: &Site, path: &Path, slash: bool) -> Result<Found, u16> {
    let path = inside(&site.root, path)?;
    let meta = fs::metadata(&path).map_err(status_of)?;
    let (path, meta) = match (meta.is_dir(), slash) {
        (true, true) => {
            let index = inside(&site.root, &path.join(&site.index))?;
            let meta = fs::metadata(&index).map_err(status_of)?;
            (index, meta)
        }
        (true, false) => return Ok(Found::Directory),
        (false, true) => return Err(404),
        (false, false) => (path, meta),
    };
    // Not a FIFO or a device: reading one could block a worker thread for ever.
    if !meta.is_file() {
        return Err(404);
    }
    Ok(Found::File(path, meta))
}

/// `path` made canonical (symlinks followed), if it stays inside `root` (canonical).
fn inside(root: &Path, path: &Path) -> Result<PathBuf, u16> {
    let canonical = path.canonicalize().map_err(status_of)?;
    if lies_under(&canonical, root) {
        Ok(canonical)
    } else {
        Err(403)
    }
}

/// Whether `path` is `root` or below it, as `Path::starts_with` says. Both are
/// canonical (absolute; no `.`, `..` or doubled separator), so comparing bytes is
/// comparing components, at a fraction of the cost of splitting both into components.
fn lies_under(path: &Path, root: &Path) -> bool {
    let is_separator = |b: &u8| path::is_separator(char::from(*b));
    let root = root.as_os_str().as_encoded_bytes();
    match path.as_os_str().as_encoded_bytes().strip_prefix(root) {
        // `/srv/site` holds `/srv/site/a`, not `/srv/site2`; the root `/` holds all.
        Some(rest) => {
            rest.first().is_none_or(is_separator) || root.last().is_some_and(is_separator)
        }
        None => false,
    }
}

fn reply(req: &Request<'_>, path: &Path, meta: &Metadata, head: bool) -> Reply {
    let modified = meta.modified().ok().map(HttpDate::from);
    // No ETags here, so a request with If-None-Match gets the full response (RFC 9110
    // §13.1.3: If-Modified-Since is then ignored).
    let since = match req.header("if-none-match") {
        None => req.header("if-modified-since"),
        Some(_) => None,
    };
    let since = since.and_then(|date| date.parse::<HttpDate>().ok());
    if let (Some(modified), Some(since)) = (modified, since) {
        if modified <= since {
            return Reply::new(304).header("last-modified", Short::of(modified).as_str());
        }
    }
    let mut reply = Reply::new(200)
        .header("content-type", &content_type(path))
        .header("content-length", Short::of(meta.len()).as_str());
    if let Some(modified) = modified {
        reply = reply.header("last-modified", Short::of(modified).as_str());
    }
    if head {
        return reply;
    }
    match fs::read(path) {
        Ok(body) => reply.body(body),
        Err(e) => error(status_of(e)),
    }
}

/// The content type guessed from the file name, as the `mime` crate prints it:
/// lowercase (a few of `mime_guess`'s types have capitals, e.g. `application/PowerShell`).
fn content_type(path: &Path) -> Cow<'static, str> {
    let guess = mime_guess::from_path(path).first_raw();
    let raw = guess.unwrap_or("application/octet-stream");
    if raw.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(raw.to_ascii_lowercase())
    } else {
        Cow::Borrowed(raw)
    }
}

/// A header value formatted on the stack, since the reply copies it anyway: an HTTP date
/// is 29 bytes and a length at most 20 digits.
struct Short {
    buf: [u8; 32],
    len: usize,
}

impl Short {
    fn of(value: impl fmt::Display) -> Short {
        let mut short = Short {
            buf: [0; 32],
            len: 0,
        };
        // Cannot fail for the values above; a longer one would be cut, not overflow.
        let _ = write!(short, "{value}");
        short
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are copied in, so the bytes are UTF-8.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for Short {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dest = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn status_of(e: io::Error) -> u16 {
    match e.kind() {
        io::ErrorKind::PermissionDenied => 403,
        _ => 404,
    }
}

fn error(status: u16) -> Reply {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        _ => "Not Found",
    };
    Reply::new(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(format!("{status} {reason}\n"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{lies_under, Short};

    #[test]
    fn lies_under_agrees_with_starts_with() {
        let cases = [
            ("/srv/site", "/srv/site"),
            ("/srv/site/a/b.txt", "/srv/site"),
            ("/srv/site2/a", "/srv/site"),
            ("/srv", "/srv/site"),
            ("/etc/passwd", "/"),
            ("/", "/"),
        ];
        for (path, root) in cases {
            let (path, root) = (Path::new(path), Path::new(root));
            assert_eq!(
                lies_under(path, root),
                path.starts_with(root),
                "{path:?} {root:?}"
            );
        }
    }

    #[test]
    fn short_values_fit() {
        assert_eq!(Short::of(u64::MAX).as_str(), "18446744073709551615");
        let date = httpdate::HttpDate::from(std::time::UNIX_EPOCH);
        assert_eq!(Short::of(date).as_str(), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
