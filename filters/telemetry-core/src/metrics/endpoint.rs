//! `metrics.endpoint`: where the module serves its metrics, and to whom.

use std::net::IpAddr;

/// The validated endpoint: requests for `path` from an allowed peer get the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The request path (without query) that is answered with the metrics.
    pub path: String,
    pub allow: Vec<Cidr>,
}

/// An address block, `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `address/prefix` (a bare address is a block of one).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("`{text}` is not an IPv4 or IPv6 address block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be from 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address matches IPv4 blocks).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (a, b, bits) = match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                (u128::from(a.to_bits()) << 96, u128::from(b.to_bits()) << 96, self.prefix)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits(), b.to_bits(), self.prefix),
            _ => return false,
        };
        let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
        a & mask == b & mask
    }
}

impl Endpoint {
    /// Whether the peer at `address` (`ip:port`, `[ipv6]:port` or a bare address, as Envoy's
    /// `source.address` gives it) may scrape. Anything unparsable may not.
    pub fn allows(&self, address: &str) -> bool {
        peer_ip(address).is_some_and(|ip| self.allow.iter().any(|c| c.contains(ip)))
    }
}

fn peer_ip(address: &str) -> Option<IpAddr> {
    if let Ok(ip) = address.parse() {
        return Some(ip);
    }
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    address.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(allow: &[&str]) -> Endpoint {
        Endpoint { path: String::from("/m"), allow: allow.iter().map(|c| Cidr::parse(c).unwrap()).collect() }
    }

    #[test]
    fn peers_are_matched_by_block() {
        let e = endpoint(&["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"]);
        for ok in ["127.0.0.1:5000", "10.200.3.4:1", "[fd12::1]:9", "10.1.1.1", "[::ffff:10.0.0.1]:80"] {
            assert!(e.allows(ok), "{ok}");
        }
        for no in ["127.0.0.2:5000", "11.0.0.1:1", "[fe80::1]:9", "", "garbage", "[::1]:80"] {
            assert!(!e.allows(no), "{no}");
        }
        assert!(endpoint(&["0.0.0.0/0"]).allows("203.0.113.9:1"), "a /0 block allows every IPv4 peer");
        assert!(endpoint(&["::1"]).allows("[::1]:80"), "a bare address is a block of one");
    }

    #[test]
    fn blocks_that_do_not_parse_say_why() {
        assert!(Cidr::parse("10.0.0.0/33").unwrap_err().contains("from 0 to 32"));
        assert!(Cidr::parse("example.com/8").unwrap_err().contains("not an IPv4 or IPv6"));
        assert!(Cidr::parse("::/129").unwrap_err().contains("from 0 to 128"));
    }
}
