//! gRPC with tonic on both sides, without protoc or generated code: [`Note`], the one
//! message (prost's derive, written by hand); [`GrpcBackend`], a tonic server of the
//! test service on h2c; [`GrpcClient`], a tonic client on one HTTP/2 connection, h2c
//! or TLS (ALPN `h2`).
//!
//! The test service has one method per kind of call:
//!
//! | path            | kind             | answer                                          |
//! |-----------------|------------------|-------------------------------------------------|
//! | [`UNARY`]       | unary            | `hello <text>`, `seq + 1`                       |
//! | [`COUNTDOWN`]   | server-streaming | `seq` notes, [`STREAM_PAUSE`] apart             |
//! | [`COUNT`]       | client-streaming | how many notes came, their texts joined by `,`  |
//! | [`CHAT`]        | bidirectional    | `re: <text>` for each note, as soon as it comes |
//!
//! A request whose text is [`MISSING`] fails with `NOT_FOUND` "missing" and the
//! metadata `x-reason: no-such-note`: the unary call at once (Trailers-Only, the status
//! in the response head), the countdown after its first note (the status in real
//! HTTP/2 trailers).

mod client;
mod server;

pub use client::{GrpcClient, Streamed, CALL_TIMEOUT, REPLY_TIMEOUT};
pub use server::{GrpcBackend, STREAM_PAUSE};

/// The unary method.
pub const UNARY: &str = "/test.Notes/Unary";
/// The server-streaming method.
pub const COUNTDOWN: &str = "/test.Notes/Countdown";
/// The client-streaming method.
pub const COUNT: &str = "/test.Notes/Count";
/// The bidirectional method.
pub const CHAT: &str = "/test.Notes/Chat";
/// The text that makes the unary call and the countdown fail with `NOT_FOUND`.
pub const MISSING: &str = "missing";

/// The one message of the test service, both ways.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Note {
    /// Free text.
    #[prost(string, tag = "1")]
    pub text: String,
    /// A number: a count asked for, or a position in a stream.
    #[prost(uint32, tag = "2")]
    pub seq: u32,
}

impl Note {
    /// A note with this text and number.
    pub fn new(text: &str, seq: u32) -> Note {
        Note {
            text: text.to_owned(),
            seq,
        }
    }
}

/// The codec both sides use.
fn codec() -> tonic_prost::ProstCodec<Note, Note> {
    tonic_prost::ProstCodec::default()
}
