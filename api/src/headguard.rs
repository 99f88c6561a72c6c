//! Requests the HTTP layer cannot parse (a head over its 128 KiB buffer, a request line with
//! a 70,000-character path, a malformed header) never reach the app: actix-http answers them
//! itself with an empty 431 or 400 and closes the connection. API.md wants every response
//! enveloped and carrying `x-request-id`, so the connection's writes are watched and exactly
//! those bodyless answers are replaced with an enveloped one. The app never writes a bodyless
//! 400 or 431 (its errors always have a JSON body), so nothing else is touched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose unparseable-request answers are enveloped.
pub struct Guarded<T> {
    io: T,
    /// The replacement being written: (bytes, written so far, length of the write it replaces).
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<T> Guarded<T> {
    pub fn new(io: T) -> Self {
        Self { io, replacing: None }
    }
}

/// The status of a bodyless 400/431 response head that is the whole of `buf`, if it is one.
fn bare_refusal(buf: &[u8]) -> Option<u16> {
    let status = match buf.get(..13)? {
        b"HTTP/1.1 400 " | b"HTTP/1.0 400 " => 400,
        b"HTTP/1.1 431 " | b"HTTP/1.0 431 " => 431,
        _ => return None,
    };
    let head = std::str::from_utf8(buf).ok()?;
    let end = head.find("\r\n\r\n")?;
    let bodyless = end + 4 == head.len() && head.to_ascii_lowercase().contains("\r\ncontent-length: 0\r\n");
    bodyless.then_some(status)
}

/// The enveloped answer, with a request id of its own (the request was never read far enough
/// to have one).
pub fn enveloped(status: u16) -> Vec<u8> {
    let id = format!("req_{}", uuid::Uuid::now_v7().simple());
    let (reason, message) = match status {
        431 => (
            "Request Header Fields Too Large",
            "the request's headers are too large (the request line and headers may take at most 128 KiB)",
        ),
        _ => ("Bad Request", "the request could not be parsed: a malformed or too long request line or header"),
    };
    let body = serde_json::json!({"error": {"code": "INVALID_REQUEST", "message": message, "request_id": id}});
    let body = body.to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         x-request-id: {id}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() {
            if let Some(status) = bare_refusal(buf) {
                this.replacing = Some((enveloped(status), 0, buf.len()));
            }
        }
        let Some((bytes, written, replaced)) = &mut this.replacing else {
            return Pin::new(&mut this.io).poll_write(cx, buf);
        };
        while *written < bytes.len() {
            match Pin::new(&mut this.io).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let replaced = *replaced;
        this.replacing = None;
        Poll::Ready(Ok(replaced))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodyless_400_and_431_heads_are_replaced() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(bare_refusal(bare), Some(431));
        assert_eq!(bare_refusal(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"), Some(400));
        let app_error = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(bare_refusal(app_error), None);
        assert_eq!(bare_refusal(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"), None);
        assert_eq!(bare_refusal(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n"), None);
        let answer = String::from_utf8(enveloped(431)).expect("text");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
        assert!(head.contains("x-request-id: req_") && head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(body["error"]["code"], "INVALID_REQUEST");
    }
}
