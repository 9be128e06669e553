//! Serving one request from a [`Site`]: the URL path → a file inside the root → a reply.

use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use hookgate_plugin_api::{Outcome, Reply, Request};
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
    let Some(relative) = relative_path(rest) else {
        return Outcome::Respond(error(400));
    };
    let slash = rest.is_empty() || rest.ends_with('/');
    match resolve(site, &relative, slash) {
        Ok(Found::File(path, meta)) => Outcome::Respond(reply(req, &path, &meta, head)),
        Ok(Found::Directory) => {
            // As nginx does: relative links in the index then resolve inside it.
            let location = match req.query() {
                Some(query) => format!("{}/?{query}", req.path()),
                None => format!("{}/", req.path()),
            };
            req.set_redirect(&location, 301);
            Outcome::Redirect
        }
        Err(status) => Outcome::Respond(error(status)),
    }
}

enum Found {
    File(PathBuf, Metadata),
    /// A directory asked for without the trailing slash.
    Directory,
}

/// The decoded path below the prefix, as a relative path; `None` if it is not UTF-8,
/// holds a NUL, or has a `..` segment (refused, whether or not it would stay inside).
fn relative_path(rest: &str) -> Option<PathBuf> {
    let decoded = percent_decode_str(rest).decode_utf8().ok()?;
    let mut path = PathBuf::new();
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
fn resolve(site: &Site, relative: &Path, slash: bool) -> Result<Found, u16> {
    let path = inside(&site.root, &site.root.join(relative))?;
    let meta = fs::metadata(&path).map_err(status_of)?;
    let path = match (meta.is_dir(), slash) {
        (true, true) => inside(&site.root, &path.join(&site.index))?,
        (true, false) => return Ok(Found::Directory),
        (false, true) => return Err(404),
        (false, false) => path,
    };
    let meta = fs::metadata(&path).map_err(status_of)?;
    // Not a FIFO or a device: reading one could block a worker thread for ever.
    if !meta.is_file() {
        return Err(404);
    }
    Ok(Found::File(path, meta))
}

/// `path` made canonical (symlinks followed), if it stays inside `root` (canonical).
fn inside(root: &Path, path: &Path) -> Result<PathBuf, u16> {
    let canonical = path.canonicalize().map_err(status_of)?;
    if canonical.starts_with(root) {
        Ok(canonical)
    } else {
        Err(403)
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
            return Reply::new(304).header("last-modified", &modified.to_string());
        }
    }
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let mut reply = Reply::new(200)
        .header("content-type", mime.as_ref())
        .header("content-length", &meta.len().to_string());
    if let Some(modified) = modified {
        reply = reply.header("last-modified", &modified.to_string());
    }
    if head {
        return reply;
    }
    match fs::read(path) {
        Ok(body) => reply.body(body),
        Err(e) => error(status_of(e)),
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
