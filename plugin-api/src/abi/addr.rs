//! Socket addresses in a stable layout (`std::net` types have none).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use abi_stable::StableAbi;

/// An IPv4 or IPv6 address: IPv4 is stored in the first four octets.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpAbi {
    /// `true` for IPv6.
    pub v6: bool,
    /// The address octets, network order.
    pub octets: [u8; 16],
}

/// An IP address and a port.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketAddrAbi {
    /// The address.
    pub ip: IpAbi,
    /// The port (0 where none is known, e.g. a client address from `X-Forwarded-For`).
    pub port: u16,
}

impl From<IpAddr> for IpAbi {
    fn from(ip: IpAddr) -> Self {
        let mut octets = [0u8; 16];
        match ip {
            IpAddr::V4(v4) => {
                octets[..4].copy_from_slice(&v4.octets());
                IpAbi { v6: false, octets }
            }
            IpAddr::V6(v6) => IpAbi {
                v6: true,
                octets: v6.octets(),
            },
        }
    }
}

impl From<IpAbi> for IpAddr {
    fn from(ip: IpAbi) -> Self {
        if ip.v6 {
            IpAddr::V6(Ipv6Addr::from(ip.octets))
        } else {
            let [a, b, c, d, ..] = ip.octets;
            IpAddr::V4(Ipv4Addr::new(a, b, c, d))
        }
    }
}

impl From<SocketAddr> for SocketAddrAbi {
    fn from(addr: SocketAddr) -> Self {
        SocketAddrAbi {
            ip: addr.ip().into(),
            port: addr.port(),
        }
    }
}

impl From<SocketAddrAbi> for SocketAddr {
    fn from(addr: SocketAddrAbi) -> Self {
        SocketAddr::new(addr.ip.into(), addr.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_families() {
        for text in ["10.1.2.3:80", "[2001:db8::1]:443"] {
            let addr: SocketAddr = text.parse().unwrap();
            assert_eq!(SocketAddr::from(SocketAddrAbi::from(addr)), addr);
        }
    }
}
