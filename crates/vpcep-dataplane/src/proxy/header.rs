//! The PROXY protocol v2 header the proxy sends a backend before the consumer's first byte
//! (HAProxy's `proxy-protocol.txt`, section 2.2), built with the `ppp` crate.
//!
//! What a backend reads: command `PROXY`, `TCP over IPv4`, the consumer's own address and port
//! as the source (its address before any translation), the endpoint address and port it
//! connected to as the destination, and one TLV naming the endpoint the way AWS PrivateLink
//! does: type `0xEA` (`PP2_TYPE_AWS`, in the range the spec leaves to custom use), value = sub-type
//! `0x01` (`PP2_SUBTYPE_AWS_VPCE_ID`) followed by the endpoint id in ASCII. So a backend that
//! already reads AWS's endpoint id reads ours unchanged.

use std::net::{SocketAddr, SocketAddrV4};

use ppp::v2::{Builder, Command, Protocol, Version};

/// TLV type of the endpoint id (AWS's custom type).
pub const PP2_TYPE_ENDPOINT: u8 = 0xEA;
/// Sub-type (first value byte) of the endpoint id inside [`PP2_TYPE_ENDPOINT`].
pub const PP2_SUBTYPE_ENDPOINT_ID: u8 = 0x01;

#[derive(Debug, thiserror::Error)]
#[error("PROXY v2 header: {0}")]
pub struct HeaderError(#[from] std::io::Error);

/// The header for a connection from `source` (the consumer) to `destination` (the endpoint)
/// through endpoint `endpoint_id`.
pub fn encode(
    source: SocketAddrV4,
    destination: SocketAddrV4,
    endpoint_id: &str,
) -> Result<Vec<u8>, HeaderError> {
    let mut tlv = Vec::with_capacity(1 + endpoint_id.len());
    tlv.push(PP2_SUBTYPE_ENDPOINT_ID);
    tlv.extend_from_slice(endpoint_id.as_bytes());
    let header = Builder::with_addresses(
        Version::Two | Command::Proxy,
        Protocol::Stream,
        (SocketAddr::V4(source), SocketAddr::V4(destination)),
    )
    .write_tlv(PP2_TYPE_ENDPOINT, &tlv)?
    .build()?;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte for byte against the spec's layout (section 2.2), not against the crate's own parser.
    #[test]
    fn header_bytes_follow_the_spec() {
        let src = SocketAddrV4::new([10, 0, 0, 20].into(), 40123);
        let dst = SocketAddrV4::new([10, 0, 0, 5].into(), 80);
        let id = "ep-1";
        let h = encode(src, dst, id).expect("header");
        let mut want = Vec::new();
        // 12-byte signature
        want.extend_from_slice(b"\r\n\r\n\0\r\nQUIT\n");
        // version 2, command PROXY; AF_INET, STREAM
        want.extend_from_slice(&[0x21, 0x11]);
        // length of what follows: 12 address bytes + TLV (3 + 1 + 4)
        want.extend_from_slice(&(12u16 + 3 + 1 + 4).to_be_bytes());
        want.extend_from_slice(&[10, 0, 0, 20, 10, 0, 0, 5]);
        want.extend_from_slice(&40123u16.to_be_bytes());
        want.extend_from_slice(&80u16.to_be_bytes());
        want.extend_from_slice(&[0xEA, 0x00, 0x05, 0x01]);
        want.extend_from_slice(b"ep-1");
        assert_eq!(h, want);
    }

    #[test]
    fn a_parser_reads_back_addresses_and_the_endpoint_id() {
        let src = SocketAddrV4::new([192, 168, 7, 9].into(), 5555);
        let dst = SocketAddrV4::new([172, 16, 0, 3].into(), 443);
        let id = "0190f5a2-7c1e-7aa0-8a51-3c5e0d7b1f42";
        let h = encode(src, dst, id).expect("header");
        let parsed = ppp::v2::Header::try_from(h.as_slice()).expect("parses");
        assert_eq!(
            parsed.addresses,
            ppp::v2::Addresses::from((SocketAddr::V4(src), SocketAddr::V4(dst)))
        );
        let tlvs: Vec<_> = parsed.tlvs().collect::<Result<_, _>>().expect("tlvs");
        assert_eq!(tlvs.len(), 1);
        assert_eq!(tlvs[0].kind, PP2_TYPE_ENDPOINT);
        assert_eq!(tlvs[0].value[0], PP2_SUBTYPE_ENDPOINT_ID);
        assert_eq!(&tlvs[0].value[1..], id.as_bytes());
    }
}
