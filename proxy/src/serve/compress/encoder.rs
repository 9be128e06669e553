//! [`Encoder`]: gzip (flate2) or brotli, fed chunk by chunk and flushed after each, so
//! a streamed response reaches the client as it comes, never buffered whole; and
//! [`Compressed`], the body that runs the frames of another through it.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::write::GzEncoder;
use http_body::{Body, Frame, SizeHint};

use crate::config::Algorithm;

/// gzip level: 5 of 9 (nginx's default is 1, zlib's 6): most of 6's ratio for less
/// CPU on text (flate2 on zlib-rs: see BENCHMARKS.md).
const GZIP_LEVEL: u32 = 5;
/// brotli quality: 4 of 11, the point where brotli beats gzip 5 on both size and speed
/// for web text; 11 is for precompressed files, far too slow on the fly.
const BROTLI_QUALITY: u32 = 4;
/// brotli window: 2^22 bytes (its default).
const BROTLI_WINDOW: u32 = 22;
/// brotli's internal buffer.
const BROTLI_BUFFER: usize = 4096;

/// A streaming compressor writing into its own buffer.
pub enum Encoder {
    /// gzip (boxed, like brotli: both states are large).
    Gzip(Box<GzEncoder<Vec<u8>>>),
    /// brotli.
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Encoder {
    /// A compressor for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Encoder {
        match algorithm {
            Algorithm::Gzip => {
                let level = flate2::Compression::new(GZIP_LEVEL);
                Encoder::Gzip(Box::new(GzEncoder::new(Vec::new(), level)))
            }
            Algorithm::Br => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                BROTLI_QUALITY,
                BROTLI_WINDOW,
            ))),
        }
    }

    /// Compresses `chunk` and flushes: the returned bytes decode to everything fed so
    /// far (a sync flush for gzip, a flush for brotli).
    pub fn chunk(&mut self, chunk: &[u8]) -> std::io::Result<Bytes> {
        match self {
            Encoder::Gzip(gzip) => {
                gzip.write_all(chunk)?;
                gzip.flush()?;
                Ok(Bytes::from(std::mem::take(gzip.get_mut())))
            }
            Encoder::Brotli(brotli) => {
                brotli.write_all(chunk)?;
                brotli.flush()?;
                Ok(Bytes::from(std::mem::take(brotli.get_mut())))
            }
        }
    }

    /// Ends the stream: the last bytes (gzip's trailer, brotli's last block).
    pub fn finish(self) -> std::io::Result<Bytes> {
        match self {
            Encoder::Gzip(gzip) => gzip.finish().map(Bytes::from),
            Encoder::Brotli(brotli) => Ok(Bytes::from(brotli.into_inner())),
        }
    }
}

/// A body whose data frames go through an [`Encoder`]; trailers pass as they are,
/// after the encoder's last bytes.
pub struct Compressed<B> {
    inner: B,
    /// `None` once finished.
    encoder: Option<Encoder>,
    /// Trailers held back until the encoder's last bytes are out.
    trailers: Option<http::HeaderMap>,
}

impl<B> Compressed<B> {
    /// `inner`'s frames, compressed with `algorithm`.
    pub fn new(inner: B, algorithm: Algorithm) -> Compressed<B> {
        Compressed {
            inner,
            encoder: Some(Encoder::new(algorithm)),
            trailers: None,
        }
    }
}

impl<B> Body for Compressed<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: From<std::io::Error>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        loop {
            let Some(encoder) = this.encoder.as_mut() else {
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            };
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let out = encoder.chunk(&data)?;
                        // A flush of nothing new gives nothing: wait for more.
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            this.trailers = Some(trailers);
                        }
                    }
                },
                Poll::Ready(None) => {
                    let Some(encoder) = this.encoder.take() else {
                        continue;
                    };
                    let last = encoder.finish()?;
                    if !last.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(last))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn unbrotli(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::Decompressor::new(bytes, 4096)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Each flush decodes to everything fed so far, and the whole stream to the input.
    #[test]
    fn each_chunk_is_decodable_as_it_comes_and_the_whole_round_trips() {
        let chunks: Vec<Vec<u8>> = (0..5)
            .map(|i| format!("<p>chunk {i} {}</p>\n", "lorem ipsum ".repeat(40)).into_bytes())
            .collect();
        let whole: Vec<u8> = chunks.concat();
        for algorithm in [Algorithm::Gzip, Algorithm::Br] {
            let mut encoder = Encoder::new(algorithm);
            let mut sent = Vec::new();
            for (i, chunk) in chunks.iter().enumerate() {
                sent.extend_from_slice(&encoder.chunk(chunk).unwrap());
                // What was sent so far, decoded by a streaming decoder, is all the
                // chunks fed so far.
                let so_far: Vec<u8> = chunks[..=i].concat();
                let mut decoded = vec![0; so_far.len()];
                let read = match algorithm {
                    Algorithm::Gzip => {
                        flate2::read::GzDecoder::new(&sent[..]).read_exact(&mut decoded)
                    }
                    Algorithm::Br => {
                        brotli::Decompressor::new(&sent[..], 4096).read_exact(&mut decoded)
                    }
                };
                read.unwrap_or_else(|e| panic!("{algorithm:?} after chunk {i}: {e}"));
                assert_eq!(decoded, so_far);
            }
            sent.extend_from_slice(&encoder.finish().unwrap());
            let decoded = match algorithm {
                Algorithm::Gzip => gunzip(&sent),
                Algorithm::Br => unbrotli(&sent),
            };
            assert_eq!(decoded, whole, "{algorithm:?}");
            assert!(
                sent.len() < whole.len() / 4,
                "{algorithm:?}: {} of {}",
                sent.len(),
                whole.len()
            );
        }
    }
}
