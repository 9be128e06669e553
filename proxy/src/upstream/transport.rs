//! How bytes reach one backend: plain TCP, or TLS over it ([`Transport`]), and the
//! stream either gives ([`BackendStream`]), which hyper's HTTP/1 client runs over.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::error::ConnectFailed;
use super::tls::BackendTls;
use super::Timeouts;
use crate::write_timeout::WriteTimeout;

/// How connections to one backend are made.
#[derive(Clone, Debug, Default)]
pub enum Transport {
    /// Plain TCP.
    #[default]
    Tcp,
    /// TLS, verified against `name`.
    Tls {
        /// The cluster's TLS settings.
        tls: Arc<BackendTls>,
        /// What the backend's certificate is verified against (and the SNI sent).
        name: ServerName<'static>,
    },
}

impl Transport {
    /// The transport of a backend at `addr` (given by the name `host`, if it was) of
    /// a cluster with `tls` (or none).
    pub fn of(tls: Option<&Arc<BackendTls>>, addr: SocketAddr, host: Option<&str>) -> Transport {
        match tls {
            None => Transport::Tcp,
            Some(tls) => Transport::Tls {
                name: tls.server_name(addr, host),
                tls: Arc::clone(tls),
            },
        }
    }

    /// A connection to `addr`: TCP with `TCP_NODELAY` (request heads and small bodies
    /// go out in one write each; Nagle would only add latency waiting for ACKs), then
    /// the TLS handshake if there is one (for HTTP/1.1 if `http1`, as for an upgrade).
    /// Unbounded: the caller sets the time limit.
    pub(crate) async fn connect(&self, addr: SocketAddr, http1: bool) -> io::Result<BackendStream> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        self.over(tcp, http1).await
    }

    /// [`connect`](Transport::connect) within `timeouts.connect`, its writes bounded by
    /// `timeouts.send`; errors name the backend (and a TLS failure's cause:
    /// [`TlsFailure::of`](super::TlsFailure::of)).
    pub(crate) async fn open(
        &self,
        addr: SocketAddr,
        timeouts: Timeouts,
        http1: bool,
    ) -> io::Result<WriteTimeout<BackendStream>> {
        let limit = timeouts.connect;
        match tokio::time::timeout(limit, self.connect(addr, http1)).await {
            Ok(Ok(stream)) => Ok(WriteTimeout::new(stream, timeouts.send)),
            Ok(Err(error)) => Err(ConnectFailed::io(addr, error)),
            Err(_elapsed) => {
                let error = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("timed out after {} ms", limit.as_millis()),
                );
                Err(ConnectFailed::io(addr, error))
            }
        }
    }

    /// `tcp`, or the TLS handshake over it for the cluster's protocol (HTTP/1.1 if
    /// `http1`, as for an upgrade).
    async fn over(&self, tcp: TcpStream, http1: bool) -> io::Result<BackendStream> {
        match self {
            Transport::Tcp => Ok(BackendStream::Tcp(tcp)),
            Transport::Tls { tls, name } => Ok(BackendStream::Tls(Box::new(
                tls.handshake(tcp, name.clone(), http1).await?,
            ))),
        }
    }
}

/// A connection to a backend, plain or TLS.
#[derive(Debug)]
pub enum BackendStream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP (boxed: the TLS state is large).
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for BackendStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for BackendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BackendStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BackendStream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            BackendStream::Tcp(s) => s.is_write_vectored(),
            BackendStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
