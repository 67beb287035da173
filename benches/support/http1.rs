//! A lean HTTP/1.1 keep-alive connection for the load generators
//! (`benches/orders.rs`, `benches/redirects.rs`). They share two cores with the
//! server and PostgreSQL, so, like `wrk`, they write each request as bytes and read
//! each answer only as far as its status line and `Content-Length`.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Connection {
    stream: TcpStream,
    /// Bytes read past the last answer.
    unread: Vec<u8>,
}

impl Connection {
    /// Connects to `address` (`host:port`).
    pub async fn open(address: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            unread: Vec::new(),
        })
    }

    /// Sends one whole request and returns its answer's status.
    pub async fn send(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.stream.write_all(request).await?;
        loop {
            if let Some(end) = self.unread.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.unread[..end]).map_err(std::io::Error::other)?;
                let status = head
                    .get(9..12)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| std::io::Error::other(format!("no status line in {head:?}")))?;
                let length: usize = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .ok_or_else(|| std::io::Error::other(format!("no Content-Length in {head:?}")))?;
                let total = end + 4 + length;
                while self.unread.len() < total {
                    self.read_more().await?;
                }
                self.unread.drain(..total);
                return Ok(status);
            }
            self.read_more().await?;
        }
    }

    async fn read_more(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.unread.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}
