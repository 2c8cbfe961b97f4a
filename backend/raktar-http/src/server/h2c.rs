//! The server side of the HTTP/1.1 `Upgrade: h2c` exchange (RFC 9113 leaves it out, RFC 7540
//! section 3.2 describes it), which hyper does not implement.
//!
//! cargo (libcurl) sends its first request on a plain-http connection with `Upgrade: h2c`,
//! `HTTP2-Settings` and `Connection: Upgrade, HTTP2-Settings`. Taking the upgrade means: answer
//! `101 Switching Protocols`, read the client's connection preface and first SETTINGS frame, and
//! answer the upgraded request as HTTP/2 stream 1. The server here hands hyper's HTTP/2 server a
//! byte stream in which the request arrives as if the client had sent it as stream 1: the preface,
//! the client's SETTINGS frame, then a HEADERS frame made here ([`upgrade_request`]), then whatever
//! the client sends next. The header block uses only HPACK "literal without indexing"
//! representations, so neither side's dynamic table changes.
//!
//! Anything unusual (a request body, a header block above one frame, invalid `HTTP2-Settings`)
//! makes [`upgrade_request`] decline, and the connection is served as HTTP/1.1.

use base64::Engine as _;

/// The HTTP/2 client connection preface.
pub(super) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The answer that switches the connection to HTTP/2.
pub(super) const SWITCHING_PROTOCOLS: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";

/// Largest header block made here: the default SETTINGS_MAX_FRAME_SIZE, which hyper keeps.
const MAX_BLOCK: usize = 16_384;
/// Largest header list (RFC 7541 size: name + value + 32 per field); hyper's default limit is 16 KiB.
const MAX_LIST: usize = 16_000;
/// Largest SETTINGS payload accepted (6 bytes per setting; a handful are defined).
pub(super) const MAX_SETTINGS_PAYLOAD: usize = 6 * 32;
/// Request headers of a head examined for the upgrade.
const MAX_HEADERS: usize = 64;

const FRAME_HEADERS: u8 = 0x1;
const FRAME_SETTINGS: u8 = 0x4;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_ACK: u8 = 0x1;

/// Headers that describe the HTTP/1.1 connection and have no place in HTTP/2 (RFC 9113 8.2.2).
const CONNECTION_SPECIFIC: &[&str] =
    &["connection", "upgrade", "http2-settings", "keep-alive", "proxy-connection", "transfer-encoding", "host"];

/// When `head` (exactly one complete HTTP/1.1 request head, nothing after it) asks for an upgrade
/// to h2c that can be taken: the HTTP/2 HEADERS frame (stream 1, END_STREAM | END_HEADERS)
/// carrying the same request. `None`: serve the request as HTTP/1.1.
pub(super) fn upgrade_request(head: &[u8]) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(len) = req.parse(head).ok()? else { return None };
    if len != head.len() || req.version != Some(1) {
        return None;
    }
    let method = req.method?;
    // Only requests without a body: the body would have to be forwarded as DATA frames.
    if method != "GET" && method != "HEAD" {
        return None;
    }
    let path = req.path?;
    if !path.starts_with('/') {
        return None;
    }
    let mut wants_h2c = false;
    let mut connection_upgrade = false;
    let mut connection_tokens: Vec<String> = Vec::new();
    let mut settings = 0usize;
    let mut host: Option<&[u8]> = None;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("upgrade") {
            wants_h2c |= tokens(h.value).any(|t| t.eq_ignore_ascii_case(b"h2c"));
        } else if name.eq_ignore_ascii_case("connection") {
            for t in tokens(h.value) {
                connection_upgrade |= t.eq_ignore_ascii_case(b"upgrade");
                connection_tokens.push(String::from_utf8_lossy(t).to_ascii_lowercase());
            }
        } else if name.eq_ignore_ascii_case("http2-settings") {
            settings += 1;
            if !valid_settings(h.value) {
                return None;
            }
        } else if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return None;
            }
            host = Some(h.value);
        } else if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        }
    }
    let host = host?;
    if !(wants_h2c && connection_upgrade && settings == 1) || host.is_empty() || !valid_value(host) {
        return None;
    }

    let mut block = Vec::with_capacity(head.len());
    let mut list = 0usize;
    let mut field = |block: &mut Vec<u8>, name: &[u8], value: &[u8]| {
        list += name.len() + value.len() + 32;
        literal_without_indexing(block, name, value);
    };
    field(&mut block, b":method", method.as_bytes());
    field(&mut block, b":scheme", b"http");
    field(&mut block, b":authority", host);
    field(&mut block, b":path", path.as_bytes());
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        if CONNECTION_SPECIFIC.contains(&name.as_str()) || connection_tokens.contains(&name) {
            continue;
        }
        if name == "te" && !h.value.eq_ignore_ascii_case(b"trailers") {
            continue;
        }
        if !valid_value(h.value) {
            return None;
        }
        field(&mut block, name.as_bytes(), h.value);
    }
    if block.len() > MAX_BLOCK || list > MAX_LIST {
        return None;
    }
    let mut frame = Vec::with_capacity(9 + block.len());
    frame_header(&mut frame, block.len(), FRAME_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, 1);
    frame.extend_from_slice(&block);
    Some(frame)
}

/// Where the client's connection preface and first SETTINGS frame end in `buf`:
/// `Ok(None)` while more bytes are needed, `Err(())` when the bytes are not a valid start of an
/// HTTP/2 connection.
pub(super) fn preface_end(buf: &[u8]) -> Result<Option<usize>, ()> {
    let n = buf.len().min(PREFACE.len());
    if buf[..n] != PREFACE[..n] {
        return Err(());
    }
    let Some(header) = buf.get(PREFACE.len()..PREFACE.len() + 9) else { return Ok(None) };
    let len = (usize::from(header[0]) << 16) | (usize::from(header[1]) << 8) | usize::from(header[2]);
    let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
    if header[3] != FRAME_SETTINGS || header[4] & FLAG_ACK != 0 || stream != 0 {
        return Err(());
    }
    if len % 6 != 0 || len > MAX_SETTINGS_PAYLOAD {
        return Err(());
    }
    let end = PREFACE.len() + 9 + len;
    Ok((buf.len() >= end).then_some(end))
}

/// Comma-separated tokens of a header value, trimmed.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|b| *b == b',').map(<[u8]>::trim_ascii).filter(|t| !t.is_empty())
}

/// A field value HTTP/2 accepts: no control characters other than tab.
fn valid_value(value: &[u8]) -> bool {
    value.iter().all(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f))
}

/// `HTTP2-Settings`: base64url of a SETTINGS payload with valid values (RFC 9113 6.5.2).
fn valid_settings(value: &[u8]) -> bool {
    let trimmed = value.trim_ascii();
    let unpadded = trimmed.strip_suffix(b"==").or_else(|| trimmed.strip_suffix(b"=")).unwrap_or(trimmed);
    let Ok(payload) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded) else { return false };
    if payload.len() % 6 != 0 || payload.len() > MAX_SETTINGS_PAYLOAD {
        return false;
    }
    payload.chunks_exact(6).all(|s| {
        let id = u16::from_be_bytes([s[0], s[1]]);
        let v = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
        match id {
            // ENABLE_PUSH
            0x2 => v <= 1,
            // INITIAL_WINDOW_SIZE
            0x4 => v <= 0x7fff_ffff,
            // MAX_FRAME_SIZE
            0x5 => (16_384..=16_777_215).contains(&v),
            _ => true,
        }
    })
}

fn frame_header(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    let len = len.to_be_bytes();
    out.extend_from_slice(&len[len.len() - 3..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
}

/// HPACK "literal header field without indexing, new name" (RFC 7541 6.2.2), no Huffman coding.
fn literal_without_indexing(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x00);
    string_literal(out, name);
    string_literal(out, value);
}

fn string_literal(out: &mut Vec<u8>, s: &[u8]) {
    integer(out, 7, 0x00, s.len());
    out.extend_from_slice(s);
}

/// HPACK integer with an N-bit prefix (RFC 7541 5.1); `flags` are the bits above the prefix.
fn integer(out: &mut Vec<u8>, prefix_bits: u8, flags: u8, mut value: usize) {
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const CURL: &[u8] = b"GET /index/config.json HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nUser-Agent: curl/7.88.1\r\n\
Accept: */*\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";

    /// Decodes the block made here (only literal-without-indexing fields, no Huffman).
    fn decode(frame: &[u8]) -> Vec<(String, String)> {
        assert_eq!(frame[3], FRAME_HEADERS);
        assert_eq!(frame[4], FLAG_END_STREAM | FLAG_END_HEADERS);
        assert_eq!(&frame[5..9], &[0, 0, 0, 1]);
        let len = (usize::from(frame[0]) << 16) | (usize::from(frame[1]) << 8) | usize::from(frame[2]);
        let mut block = &frame[9..];
        assert_eq!(block.len(), len);
        let read_int = |b: &mut &[u8]| -> usize {
            let mut v = usize::from(b[0] & 0x7f);
            *b = &b[1..];
            if v == 0x7f {
                let mut shift = 0;
                loop {
                    let byte = b[0];
                    *b = &b[1..];
                    v += usize::from(byte & 0x7f) << shift;
                    shift += 7;
                    if byte & 0x80 == 0 {
                        break;
                    }
                }
            }
            v
        };
        let mut out = Vec::new();
        while !block.is_empty() {
            assert_eq!(block[0], 0x00);
            block = &block[1..];
            let n = read_int(&mut block);
            let name = String::from_utf8(block[..n].to_vec()).unwrap();
            block = &block[n..];
            let n = read_int(&mut block);
            let value = String::from_utf8(block[..n].to_vec()).unwrap();
            block = &block[n..];
            out.push((name, value));
        }
        out
    }

    #[test]
    fn curl_upgrade_becomes_stream_one() {
        let frame = upgrade_request(CURL).expect("an upgrade");
        let fields = decode(&frame);
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, [":method", ":scheme", ":authority", ":path", "user-agent", "accept"]);
        assert_eq!(fields[0].1, "GET");
        assert_eq!(fields[1].1, "http");
        assert_eq!(fields[2].1, "127.0.0.1:3000");
        assert_eq!(fields[3].1, "/index/config.json");
    }

    #[test]
    fn long_values_use_multi_byte_lengths() {
        let long = "x".repeat(300);
        let head = format!(
            "GET /a HTTP/1.1\r\nHost: h\r\nX-Long: {long}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n\r\n"
        );
        let fields = decode(&upgrade_request(head.as_bytes()).expect("an upgrade"));
        assert_eq!(fields.last().unwrap(), &("x-long".to_owned(), long));
    }

    #[test]
    fn declined_upgrades() {
        let with = |extra: &str, method: &str| {
            format!(
                "{method} /a HTTP/1.1\r\nHost: h\r\n{extra}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n"
            )
        };
        assert!(upgrade_request(with("", "GET").as_bytes()).is_some());
        assert!(upgrade_request(with("", "HEAD").as_bytes()).is_some());
        // Bodies, other methods, bad settings, no host, oversize blocks, anything after the head.
        assert!(upgrade_request(with("Content-Length: 3\r\n", "GET").as_bytes()).is_none());
        assert!(upgrade_request(with("Transfer-Encoding: chunked\r\n", "GET").as_bytes()).is_none());
        assert!(upgrade_request(with("", "POST").as_bytes()).is_none());
        assert!(upgrade_request(with("HTTP2-Settings: AAMAAABk\r\n", "GET").as_bytes()).is_none());
        let bad = "GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAA\r\n\r\n";
        assert!(upgrade_request(bad.as_bytes()).is_none());
        let push = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0, 2, 0, 0, 0, 7]);
        let bad = format!(
            "GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: {push}\r\n\r\n"
        );
        assert!(upgrade_request(bad.as_bytes()).is_none());
        let no_host = "GET /a HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n";
        assert!(upgrade_request(no_host.as_bytes()).is_none());
        let big = format!("X-Big: {}\r\n", "y".repeat(MAX_BLOCK));
        assert!(upgrade_request(with(&big, "GET").as_bytes()).is_none());
        let mut trailing = with("", "GET").into_bytes();
        trailing.extend_from_slice(b"GET /b HTTP/1.1\r\n");
        assert!(upgrade_request(&trailing).is_none());
        let plain = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
        assert!(upgrade_request(plain.as_bytes()).is_none());
        let absolute = "GET http://h/a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n";
        assert!(upgrade_request(absolute.as_bytes()).is_none());
    }

    #[test]
    fn client_preface() {
        let mut buf = PREFACE.to_vec();
        assert_eq!(preface_end(&buf[..10]), Ok(None));
        assert_eq!(preface_end(&buf), Ok(None));
        buf.extend_from_slice(&[0, 0, 6, FRAME_SETTINGS, 0, 0, 0, 0, 0]);
        assert_eq!(preface_end(&buf), Ok(None));
        buf.extend_from_slice(&[0, 3, 0, 0, 0, 100]);
        assert_eq!(preface_end(&buf), Ok(Some(39)));
        buf.extend_from_slice(b"more");
        assert_eq!(preface_end(&buf), Ok(Some(39)));
        assert_eq!(preface_end(b"GET / HTTP/1.1\r\n"), Err(()));
        let mut ack = PREFACE.to_vec();
        ack.extend_from_slice(&[0, 0, 0, FRAME_SETTINGS, FLAG_ACK, 0, 0, 0, 0]);
        assert_eq!(preface_end(&ack), Err(()));
        let mut headers = PREFACE.to_vec();
        headers.extend_from_slice(&[0, 0, 0, FRAME_HEADERS, 0, 0, 0, 0, 1]);
        assert_eq!(preface_end(&headers), Err(()));
    }
}
