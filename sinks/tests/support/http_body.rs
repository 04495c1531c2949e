//! An HTTP/1.1 endpoint standing in for ClickHouse's insert interface where
//! only the client side matters: it answers 200 to every request and reads
//! each body (chunked or sized), handing it out or draining it. Shared by
//! the RowBinary test (which compares bodies) and the sink benchmark (which
//! measures the client without server work).

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Starts the endpoint. With `keep`, every request's body is sent on the
/// returned channel; without, bodies are drained and the channel stays empty.
pub async fn body_server(keep: bool) -> (std::net::SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::with_capacity(1 << 20, r);
                let mut line = String::new();
                let mut piece = vec![0u8; 1 << 16];
                loop {
                    let (mut chunked, mut length) = (false, 0usize);
                    loop {
                        line.clear();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end().to_ascii_lowercase();
                        if l.is_empty() {
                            break;
                        }
                        chunked |= l == "transfer-encoding: chunked";
                        if let Some(v) = l.strip_prefix("content-length: ") {
                            length = v.parse().expect("numeric Content-Length");
                        }
                    }
                    let mut body = keep.then(Vec::new);
                    if chunked {
                        loop {
                            line.clear();
                            r.read_line(&mut line).await.unwrap();
                            let size = usize::from_str_radix(line.trim(), 16).unwrap();
                            read_part(&mut r, &mut piece, size, body.as_mut()).await;
                            read_part(&mut r, &mut piece, 2, None).await; // CRLF
                            if size == 0 {
                                break;
                            }
                        }
                    } else {
                        read_part(&mut r, &mut piece, length, body.as_mut()).await;
                    }
                    if let Some(body) = body {
                        tx.send(body).unwrap();
                    }
                    w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .await
                        .unwrap();
                }
            });
        }
    });
    (addr, rx)
}

/// Reads exactly `n` bytes through `piece`, appending them to `keep` if given.
async fn read_part<R: AsyncRead + Unpin>(
    r: &mut R,
    piece: &mut [u8],
    n: usize,
    mut keep: Option<&mut Vec<u8>>,
) {
    let (mut left, cap) = (n, piece.len());
    while left > 0 {
        let got = r.read(&mut piece[..left.min(cap)]).await.unwrap();
        assert!(got > 0, "connection closed inside a body");
        if let Some(k) = keep.as_deref_mut() {
            k.extend_from_slice(&piece[..got]);
        }
        left -= got;
    }
}
