//! The client address of a request, for the sign-in rate limits.
//!
//! The server inserts the TCP peer address as a [`ClientAddr`] request extension (`raktar serve`;
//! the Lambda handler inserts API Gateway's `sourceIp`); axum's `ConnectInfo<SocketAddr>` is read
//! when no `ClientAddr` is present. Forwarding headers are honoured only when that peer is one of
//! the configured trusted proxies ([`TrustedProxies`]): then the address is the rightmost
//! `X-Forwarded-For` entry that is not itself a trusted proxy (or, without `X-Forwarded-For`, the
//! same walk over the `for=` parameters of `Forwarded`, RFC 7239). From any other peer the headers
//! are ignored: a client cannot choose its own rate-limit bucket.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};

/// The TCP peer of a request (or the address the platform vouches for, like API Gateway's
/// `sourceIp`). The serve loop inserts it into every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// One network in CIDR notation (`10.0.0.0/8`, `::1/128`; a bare address is a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let bad = || format!("`{raw}` is not an IP address or network (`10.0.0.0/8`, `::1/128`, `127.0.0.1`)");
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The proxies whose forwarding headers are believed (empty: none, the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    /// Parses a list of networks.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, String> {
        raw.iter().map(|s| IpNet::parse(s.as_ref())).collect::<Result<Vec<_>, _>>().map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }
}

/// Most forwarding hops looked at (a bound on work per request).
const MAX_HOPS: usize = 32;

/// The peer address the server recorded for the request, if any.
pub fn peer_addr(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ClientAddr>()
        .map(|c| c.0.ip())
        .or_else(|| extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))
        .map(|ip| ip.to_canonical())
}

/// The client address for rate limits: see the module documentation. `None` when the server
/// recorded no peer address.
pub fn client_ip(headers: &HeaderMap, extensions: &Extensions, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = peer_addr(extensions)?;
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let hops = forwarded_hops(headers);
    let mut client = peer;
    for hop in hops.iter().rev().take(MAX_HOPS) {
        match hop {
            // An entry that is not an address ends the chain we can vouch for.
            None => break,
            Some(ip) => {
                client = *ip;
                if !trusted.contains(*ip) {
                    break;
                }
            }
        }
    }
    Some(client)
}

/// The forwarding chain, client first: `X-Forwarded-For` entries, or else the `for=` parameters of
/// `Forwarded`. `None` marks an entry that is not an address (`unknown`, obfuscated, garbage).
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let xff: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(|s| parse_node(s.trim()))
        .collect();
    if !xff.is_empty() {
        return xff;
    }
    headers
        .get_all("forwarded")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("for=?").split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| parse_node(v.trim().trim_matches('"')))
            })
        })
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:443`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = raw.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    let inner = raw.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::http::HeaderValue;

    use super::*;

    fn ext(peer: &str) -> Extensions {
        let mut e = Extensions::new();
        e.insert(ClientAddr(SocketAddr::new(peer.parse().unwrap(), 4000)));
        e
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn networks() {
        let n = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(IpNet::parse("127.0.0.1").unwrap().contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(IpNet::parse("fd00::/8").unwrap().contains("fd12::1".parse().unwrap()));
        assert!(!IpNet::parse("fd00::/8").unwrap().contains("10.0.0.1".parse().unwrap()));
        assert!(IpNet::parse("10.0.0.0/33").is_err());
        assert!(IpNet::parse("proxy.local").is_err());
    }

    #[test]
    fn forwarded_for_is_ignored_from_an_untrusted_peer() {
        let trusted = TrustedProxies::parse(&["127.0.0.1/32"]).unwrap();
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(client_ip(&h, &ext("203.0.113.9"), &trusted), ip("203.0.113.9"));
        // No trusted proxies at all: never honoured.
        assert_eq!(client_ip(&h, &ext("127.0.0.1"), &TrustedProxies::default()), ip("127.0.0.1"));
        // No peer address: unknown, whatever the headers say.
        assert_eq!(client_ip(&h, &Extensions::new(), &trusted), None);
    }

    #[test]
    fn forwarded_for_is_honoured_from_a_trusted_peer() {
        let trusted = TrustedProxies::parse(&["127.0.0.1/32", "10.0.0.0/8"]).unwrap();
        // The rightmost untrusted entry: a client-supplied prefix cannot choose the bucket.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.5")]);
        assert_eq!(client_ip(&h, &ext("127.0.0.1"), &trusted), ip("198.51.100.7"));
        let h = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.8")]);
        assert_eq!(client_ip(&h, &ext("::ffff:127.0.0.1"), &trusted), ip("198.51.100.8"));
        // Garbage ends the chain at the last hop we trust.
        let h = headers(&[("x-forwarded-for", "198.51.100.7, nonsense")]);
        assert_eq!(client_ip(&h, &ext("127.0.0.1"), &trusted), ip("127.0.0.1"));
        // RFC 7239.
        let h = headers(&[("forwarded", "for=6.6.6.6, for=\"[2001:db8::1]:443\";proto=https, for=10.0.0.2")]);
        assert_eq!(client_ip(&h, &ext("127.0.0.1"), &trusted), ip("2001:db8::1"));
        // Without headers: the proxy itself.
        assert_eq!(client_ip(&HeaderMap::new(), &ext("127.0.0.1"), &trusted), ip("127.0.0.1"));
        // ConnectInfo when no ClientAddr was inserted.
        let mut e = Extensions::new();
        e.insert(ConnectInfo(SocketAddr::new("127.0.0.1".parse().unwrap(), 1)));
        let h = headers(&[("x-forwarded-for", "198.51.100.9")]);
        assert_eq!(client_ip(&h, &e, &trusted), ip("198.51.100.9"));
    }
}
