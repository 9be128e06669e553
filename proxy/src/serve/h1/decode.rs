//! A request body's framing taken off the bytes in the connection's buffer (RFC 9112
//! §6, §7.1): a length, or chunked coding, whose sizes, extensions and trailers are
//! checked as hyper and nginx check them. The data comes out as slices of the
//! buffer, not copies; what follows the body stays in the buffer for the next head.

use bytes::{Buf, Bytes, BytesMut};

/// The most bytes of chunk extensions one body may carry (ignored, but read: hyper's
/// limit, so a body cannot make the proxy spin on them forever).
const MAX_EXTENSION_BYTES: u64 = 16 * 1024;
/// The most bytes of trailer fields one body may carry (read and dropped).
const MAX_TRAILER_BYTES: u64 = 16 * 1024;

/// What a decoding step produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// The body is complete.
    End,
    /// The buffer holds no more of the body: read more.
    More,
}

/// Why a body cannot be framed (the client's fault: 400 `bad_body`).
#[derive(Debug, thiserror::Error)]
#[error("invalid chunked framing: {0}")]
pub(crate) struct BadFraming(&'static str);

/// A request body being decoded.
#[derive(Debug)]
pub(crate) enum Decoder {
    /// This many bytes are still to come.
    Length(u64),
    /// Chunked coding, at this point of its grammar.
    Chunked(Chunked),
}

/// Where a chunked body's decoding stands.
#[derive(Debug)]
pub(crate) struct Chunked {
    state: State,
    /// The size of the chunk being read, or the bytes of it still to come.
    size: u64,
    extension_bytes: u64,
    trailer_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The first digit of a chunk size.
    SizeStart,
    /// More digits, or what follows them.
    Size,
    /// Whitespace after the size.
    SizeLws,
    /// A chunk extension (ignored) up to the CR.
    Extension,
    /// The LF ending the size line.
    SizeLf,
    /// Chunk data.
    Data,
    /// The CR after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// After the last chunk: the CR of the empty line, or a trailer field.
    TrailerStart,
    /// A trailer field up to its CR.
    Trailer,
    /// The LF ending a trailer field.
    TrailerLf,
    /// The LF of the final empty line.
    EndLf,
    /// Complete.
    Done,
}

impl Decoder {
    /// A chunked body.
    pub(crate) fn chunked() -> Decoder {
        Decoder::Chunked(Chunked {
            state: State::SizeStart,
            size: 0,
            extension_bytes: 0,
            trailer_bytes: 0,
        })
    }

    /// Takes the next part of the body off the front of `buf`.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, BadFraming> {
        match self {
            Decoder::Length(0) => Ok(Decoded::End),
            Decoder::Length(_) if buf.is_empty() => Ok(Decoded::More),
            Decoder::Length(left) => {
                let n = usize::try_from(*left).map_or(buf.len(), |left| left.min(buf.len()));
                *left -= n as u64;
                Ok(Decoded::Data(buf.split_to(n).freeze()))
            }
            Decoder::Chunked(chunked) => chunked.decode(buf),
        }
    }
}

impl Chunked {
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, BadFraming> {
        loop {
            if self.state == State::Done {
                return Ok(Decoded::End);
            }
            if self.state == State::Data {
                if buf.is_empty() {
                    return Ok(Decoded::More);
                }
                let n = usize::try_from(self.size).map_or(buf.len(), |size| size.min(buf.len()));
                self.size -= n as u64;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                return Ok(Decoded::Data(buf.split_to(n).freeze()));
            }
            let Some(&byte) = buf.first() else {
                return Ok(Decoded::More);
            };
            buf.advance(1);
            self.step(byte)?;
        }
    }

    /// One byte of framing.
    fn step(&mut self, byte: u8) -> Result<(), BadFraming> {
        self.state = match (self.state, byte) {
            (State::SizeStart | State::Size, b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F') => {
                let digit = (byte as char).to_digit(16).unwrap_or(0);
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|size| size.checked_add(u64::from(digit)))
                    .ok_or(BadFraming("chunk size overflows"))?;
                State::Size
            }
            (State::SizeStart, _) => return Err(BadFraming("no chunk size")),
            (State::Size | State::SizeLws, b' ' | b'\t') => State::SizeLws,
            (State::Size | State::SizeLws, b';') => State::Extension,
            (State::Size | State::SizeLws | State::Extension, b'\r') => State::SizeLf,
            (State::Size | State::SizeLws, _) => return Err(BadFraming("invalid chunk size")),
            (State::Extension, b'\n') => return Err(BadFraming("bare LF in a chunk extension")),
            (State::Extension, _) => {
                self.extension_bytes += 1;
                if self.extension_bytes > MAX_EXTENSION_BYTES {
                    return Err(BadFraming("chunk extensions too long"));
                }
                State::Extension
            }
            (State::SizeLf, b'\n') if self.size == 0 => State::TrailerStart,
            (State::SizeLf, b'\n') => State::Data,
            (State::SizeLf, _) => return Err(BadFraming("chunk size line not ended by CRLF")),
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::SizeStart,
            (State::DataCr | State::DataLf, _) => {
                return Err(BadFraming("chunk data not followed by CRLF"))
            }
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart | State::Trailer, b'\n') => {
                return Err(BadFraming("bare LF in the trailer section"))
            }
            (State::TrailerStart | State::Trailer, _) => {
                self.trailer_bytes += 1;
                if self.trailer_bytes > MAX_TRAILER_BYTES {
                    return Err(BadFraming("trailer section too large"));
                }
                if byte == b'\r' {
                    State::TrailerLf
                } else {
                    State::Trailer
                }
            }
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::EndLf, b'\n') => State::Done,
            (State::TrailerLf | State::EndLf, _) => {
                return Err(BadFraming("trailer section not ended by CRLF"))
            }
            (State::Data | State::Done, _) => self.state,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes all of `input`, fed in pieces of `step` bytes; the body and what was
    /// left in the buffer.
    fn decode_all(
        mut decoder: Decoder,
        input: &[u8],
        step: usize,
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            match decoder.decode(&mut buf).map_err(|e| e.to_string())? {
                Decoded::Data(data) => body.extend_from_slice(&data),
                Decoded::End => return Ok((body, buf.to_vec())),
                Decoded::More if fed >= input.len() => return Err("incomplete".into()),
                Decoded::More => {
                    let end = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_pieces() {
        let input = b"5;a=b\r\nhello\r\n1 \r\n!\r\n0\r\nX-T: 1\r\n\r\nGET /next";
        for step in [1, 2, 3, 7, 100] {
            let (body, rest) = decode_all(Decoder::chunked(), input, step).unwrap();
            assert_eq!(body, b"hello!", "step {step}");
            // Whatever was read past the body is still there.
            assert!(b"GET /next".starts_with(&rest), "step {step}: {rest:?}");
        }
    }

    #[test]
    fn a_length_takes_exactly_its_bytes() {
        let (body, rest) = decode_all(Decoder::Length(5), b"helloGET", 100).unwrap();
        assert_eq!(
            (body.as_slice(), rest.as_slice()),
            (&b"hello"[..], &b"GET"[..])
        );
        assert_eq!(
            decode_all(Decoder::Length(5), b"hel", 100),
            Err("incomplete".into())
        );
    }

    #[test]
    fn broken_chunked_framing_is_refused() {
        let ext = format!("5{}\r\nhello\r\n0\r\n\r\n", ";a=b".repeat(4200));
        for bad in [
            &b"zz\r\nhello\r\n0\r\n\r\n"[..],
            b"-1\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5 5\r\nhello\r\n0\r\n\r\n",
            b"\r\n",
            b"10000000000000000\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            ext.as_bytes(),
        ] {
            let result = decode_all(Decoder::chunked(), bad, 3);
            assert!(
                result.as_ref().is_err_and(|e| e != "incomplete"),
                "{:?}: {result:?}",
                String::from_utf8_lossy(&bad[..bad.len().min(20)])
            );
        }
    }
}
