//! Redis through the host (since 0.2.3): commands and scripts a handler or a timer's
//! tick asks a store of the proxy's config (`[redis.NAME]`) to run, started like
//! callouts ([`Callout::redis`](crate::Callout::redis)), and their replies
//! ([`RedisValue`], from [`CalloutResult::reply`](crate::CalloutResult::reply)).

use std::time::Duration;

use crate::abi::{RString, RVec, RedisSpecAbi};

/// A Redis command or Lua script, built here and started with
/// [`Callout::redis`](crate::Callout::redis).
///
/// ```
/// use hookgate_plugin_api::RedisCommand;
///
/// let incr = RedisCommand::new("INCR").arg("hits:10.0.0.1");
/// let window = RedisCommand::script("return redis.call('INCR', KEYS[1])")
///     .key("hits:10.0.0.1")
///     .arg(60_000);
/// # let _ = (incr, window);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisCommand {
    pub(crate) spec: RedisSpecAbi,
}

impl RedisCommand {
    /// The command `name` (`GET`, `INCRBY`, …), arguments to follow.
    pub fn new(name: &str) -> RedisCommand {
        RedisCommand {
            spec: RedisSpecAbi {
                args: RVec::from(vec![RVec::from(name.as_bytes().to_vec())]),
                ..RedisSpecAbi::default()
            },
        }
    }

    /// A Lua script: run by `EVALSHA`, and by `EVAL` when the server does not have it
    /// (after a restart, say). Keys first ([`key`](Self::key)), then arguments.
    pub fn script(source: &str) -> RedisCommand {
        RedisCommand {
            spec: RedisSpecAbi {
                script: RString::from(source),
                ..RedisSpecAbi::default()
            },
        }
    }

    /// Adds a key (for a script: before any argument; a plain command takes keys as
    /// arguments).
    pub fn key(mut self, key: impl RedisArg) -> RedisCommand {
        if self.spec.script.is_empty() {
            return self.arg(key);
        }
        let at = self.spec.keys as usize;
        self.spec.args.insert(at, RVec::from(key.bytes()));
        self.spec.keys += 1;
        self
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl RedisArg) -> RedisCommand {
        self.spec.args.push(RVec::from(arg.bytes()));
        self
    }

    /// Bounds the command's time (at most the store's own limit).
    pub fn timeout(mut self, timeout: Duration) -> RedisCommand {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.spec.timeout_ms = ms.max(1);
        self
    }

    /// The command's name, or `EVALSHA` for a script.
    pub fn name(&self) -> String {
        if !self.spec.script.is_empty() {
            return "EVALSHA".to_owned();
        }
        let first = self.spec.args.first().map(|a| a.as_slice()).unwrap_or(b"");
        String::from_utf8_lossy(first).to_ascii_uppercase()
    }

    /// The arguments after the name (a script's keys, then its arguments), as text.
    pub fn args(&self) -> Vec<String> {
        let skip = usize::from(self.spec.script.is_empty());
        let args = self.spec.args.iter().skip(skip);
        args.map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }
}

/// What [`RedisCommand::arg`] takes: text, bytes, integers.
pub trait RedisArg {
    /// The argument's bytes.
    fn bytes(self) -> Vec<u8>;
}

impl RedisArg for &str {
    fn bytes(self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl RedisArg for String {
    fn bytes(self) -> Vec<u8> {
        self.into_bytes()
    }
}
impl RedisArg for &String {
    fn bytes(self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl RedisArg for &[u8] {
    fn bytes(self) -> Vec<u8> {
        self.to_vec()
    }
}
impl RedisArg for Vec<u8> {
    fn bytes(self) -> Vec<u8> {
        self
    }
}
macro_rules! integer_args {
    ($($t:ty),*) => {$(
        impl RedisArg for $t {
            fn bytes(self) -> Vec<u8> {
                self.to_string().into_bytes()
            }
        }
    )*};
}
integer_args!(i32, i64, u32, u64, usize);

/// A Redis reply.
///
/// ```
/// use hookgate_plugin_api::RedisValue;
///
/// let reply = RedisValue::Array(vec![RedisValue::Int(3), RedisValue::Nil]);
/// assert_eq!(RedisValue::from_resp(&reply.to_resp()), Ok(reply.clone()));
/// assert_eq!(RedisValue::Int(3).as_int(), Some(3));
/// assert_eq!(RedisValue::Bytes(b"42".to_vec()).as_int(), Some(42));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisValue {
    /// No value (a missing key).
    Nil,
    /// An integer.
    Int(i64),
    /// A bulk string.
    Bytes(Vec<u8>),
    /// A status reply (`OK`).
    Status(String),
    /// An error inside a reply (an array's element; an error reply to the command
    /// itself is the result's error).
    Error(String),
    /// An array (maps and sets of RESP3 come as arrays, a map's pairs flattened).
    Array(Vec<RedisValue>),
}

/// How deep arrays may nest in a reply read back.
const MAX_DEPTH: usize = 32;

impl RedisValue {
    /// The integer: an `Int`, or a bulk string or status holding one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            RedisValue::Int(n) => Some(*n),
            RedisValue::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            RedisValue::Status(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The text of a bulk string or status.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            RedisValue::Bytes(b) => std::str::from_utf8(b).ok(),
            RedisValue::Status(s) => Some(s),
            _ => None,
        }
    }

    /// The elements of an array.
    pub fn as_array(&self) -> Option<&[RedisValue]> {
        match self {
            RedisValue::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Internal (for hosts): the reply in the RESP2 encoding that crosses the
    /// boundary in a result's body (`_` for nil).
    #[doc(hidden)]
    pub fn to_resp(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        let line = |out: &mut Vec<u8>, kind: u8, text: &[u8]| {
            out.push(kind);
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        };
        match self {
            RedisValue::Nil => line(out, b'_', b""),
            RedisValue::Int(n) => line(out, b':', n.to_string().as_bytes()),
            RedisValue::Status(s) => line(out, b'+', one_line(s).as_bytes()),
            RedisValue::Error(s) => line(out, b'-', one_line(s).as_bytes()),
            RedisValue::Bytes(b) => {
                line(out, b'$', b.len().to_string().as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            RedisValue::Array(items) => {
                line(out, b'*', items.len().to_string().as_bytes());
                for item in items {
                    item.write(out);
                }
            }
        }
    }

    /// Reads a reply written by [`to_resp`](Self::to_resp).
    pub fn from_resp(bytes: &[u8]) -> Result<RedisValue, String> {
        let (value, rest) = read(bytes, 0)?;
        if !rest.is_empty() {
            return Err("bytes after the reply".to_owned());
        }
        Ok(value)
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// One value from the front of `bytes`, and what follows it.
fn read(bytes: &[u8], depth: usize) -> Result<(RedisValue, &[u8]), String> {
    if depth > MAX_DEPTH {
        return Err("a reply nested too deep".to_owned());
    }
    let end = (bytes.windows(2).position(|w| w == b"\r\n")).ok_or("a truncated reply")?;
    let (kind, text) = bytes.split_first().ok_or("an empty reply")?;
    let text = &text[..end - 1];
    let rest = &bytes[end + 2..];
    let as_text = || String::from_utf8_lossy(text).into_owned();
    let number = || -> Result<i64, String> {
        (std::str::from_utf8(text).ok())
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("not a number: {:?}", as_text()))
    };
    match kind {
        b'_' => Ok((RedisValue::Nil, rest)),
        b':' => Ok((RedisValue::Int(number()?), rest)),
        b'+' => Ok((RedisValue::Status(as_text()), rest)),
        b'-' => Ok((RedisValue::Error(as_text()), rest)),
        b'$' => {
            let len = usize::try_from(number()?).map_err(|_| "a negative length")?;
            if rest.len() < len + 2 || &rest[len..len + 2] != b"\r\n" {
                return Err("a truncated bulk string".to_owned());
            }
            Ok((RedisValue::Bytes(rest[..len].to_vec()), &rest[len + 2..]))
        }
        b'*' => {
            let len = usize::try_from(number()?).map_err(|_| "a negative length")?;
            let mut items = Vec::with_capacity(len.min(1024));
            let mut rest = rest;
            for _ in 0..len {
                let (item, after) = read(rest, depth + 1)?;
                items.push(item);
                rest = after;
            }
            Ok((RedisValue::Array(items), rest))
        }
        other => Err(format!("an unknown reply type {:?}", char::from(*other))),
    }
}

#[cfg(test)]
mod tests {
    use super::{RedisCommand, RedisValue};

    #[test]
    fn replies_round_trip_and_broken_ones_are_refused() {
        let reply = RedisValue::Array(vec![
            RedisValue::Int(-7),
            RedisValue::Bytes(b"a\r\nb".to_vec()),
            RedisValue::Status("OK".to_owned()),
            RedisValue::Error("WRONGTYPE no".to_owned()),
            RedisValue::Nil,
            RedisValue::Array(vec![]),
        ]);
        assert_eq!(RedisValue::from_resp(&reply.to_resp()), Ok(reply));
        for broken in [
            &b""[..],
            b":1",
            b"$5\r\nab\r\n",
            b"*2\r\n:1\r\n",
            b"?x\r\n",
            b":1\r\nx",
        ] {
            assert!(RedisValue::from_resp(broken).is_err(), "{broken:?}");
        }
        let deep = "*1\r\n".repeat(40) + ":1\r\n";
        assert!(RedisValue::from_resp(deep.as_bytes()).is_err());
    }

    #[test]
    fn scripts_take_keys_before_arguments() {
        let script = RedisCommand::script("return 1")
            .arg(5)
            .key("a")
            .key("b")
            .arg("x");
        assert_eq!(script.name(), "EVALSHA");
        assert_eq!(script.spec.keys, 2);
        assert_eq!(script.args(), ["a", "b", "5", "x"]);
        let plain = RedisCommand::new("incrby").key("k").arg(3u64);
        assert_eq!(plain.name(), "INCRBY");
        assert_eq!(plain.args(), ["k", "3"]);
    }
}
