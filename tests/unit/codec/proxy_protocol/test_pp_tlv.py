"""TLVs: CRC32C against RFC 3720's vectors, the checksum written and verified, SSL sub-TLVs,
and the properties that read the registered types."""

from __future__ import annotations

import pytest

from pipework.codec.proxy_protocol import (
    TLV,
    ProxyHeader,
    ProxyProtocolError,
    SSLClient,
    SSLInfo,
    TLVType,
    crc32c,
    decode,
    encode,
    parse_ssl,
    ssl_info,
    ssl_tlv,
)
from pipework.codec.proxy_protocol import LocalProtocolError as PPLocalError


@pytest.mark.parametrize(("data", "crc"), [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),  # the CRC catalogue's check value for CRC-32C
    (bytes(32), 0x8A9136AA),  # RFC 3720 B.4: 32 bytes of zeroes
    (b"\xff" * 32, 0x62A8AB43),  # 32 bytes of ones
    (bytes(range(32)), 0x46DD794E),  # 32 bytes incrementing
    (bytes(range(31, -1, -1)), 0x113FDB5C),  # 32 bytes decrementing
])
def test_crc32c_vectors(data: bytes, crc: int) -> None:
    assert crc32c(data) == crc
    assert crc32c(data[16:], crc32c(data[:16])) == crc  # continues a running value


def header(*tlvs: TLV) -> ProxyHeader:
    return ProxyHeader.proxy(("198.51.100.7", 40000), ("203.0.113.1", 443), tlvs=tlvs)


def test_checksum_is_written_and_verified() -> None:
    wire = encode(header(TLV(TLVType.ALPN, b"h2")), checksum=True)
    decoded = decode(wire)
    assert decoded is not None
    crc = decoded[0].crc32c
    assert crc is not None
    assert crc32c(wire[:-4] + bytes(4)) == crc  # the TLV is last; its field counted as zeros
    assert decoded[0].tlvs[-1] == TLV(TLVType.CRC32C, crc.to_bytes(4, "big"))
    assert encode(decoded[0]) == wire  # a header passed on keeps a correct checksum
    for i in range(len(wire)):  # any single flipped bit is caught
        corrupt = bytearray(wire)
        corrupt[i] ^= 0x01
        with pytest.raises(ProxyProtocolError):  # signature, head, TLV or checksum
            decode(bytes(corrupt), max_size=len(wire))


def test_stale_checksum_is_recomputed_where_it_stands() -> None:
    stale = header(TLV(TLVType.CRC32C, b"\x01\x02\x03\x04"), TLV(TLVType.UNIQUE_ID, b"id-1"))
    wire = encode(stale)
    decoded = decode(wire)
    assert decoded is not None
    assert [t.type for t in decoded[0].tlvs] == [TLVType.CRC32C, TLVType.UNIQUE_ID]
    assert decoded[0].crc32c != 0x01020304
    assert encode(stale, checksum=True) == wire  # no second CRC TLV


def test_properties_read_the_registered_types() -> None:
    info = ssl_info(version="TLSv1.3", cn="client.example", cipher="TLS_AES_256_GCM_SHA384",
                    sig_alg="RSA-SHA256", key_alg="RSA2048", client=SSLClient.SSL | SSLClient.CERT_CONN)
    h = header(TLV(TLVType.ALPN, b"h2"), TLV(TLVType.AUTHORITY, "bücher.example".encode()),
               TLV(TLVType.UNIQUE_ID, b"\x00" * 128), ssl_tlv(info), TLV(TLVType.NETNS, b"blue"))
    decoded = decode(encode(h, checksum=True))
    assert decoded is not None
    got = decoded[0]
    assert (got.alpn, got.authority, got.netns) == (b"h2", "bücher.example", "blue")
    assert got.unique_id == b"\x00" * 128
    assert got.ssl == info
    assert got.ssl is not None
    assert (got.ssl.version, got.ssl.cn, got.ssl.cipher, got.ssl.sig_alg, got.ssl.key_alg) == (
        "TLSv1.3", "client.example", "TLS_AES_256_GCM_SHA384", "RSA-SHA256", "RSA2048")
    assert got.ssl.client == SSLClient.SSL | SSLClient.CERT_CONN
    assert got.tlv(0xEE) is None
    bare = header()
    assert (bare.alpn, bare.authority, bare.crc32c, bare.unique_id, bare.netns, bare.ssl) == (None,) * 6


def test_ssl_value_layout() -> None:
    # struct pp2_tlv_ssl { uint8_t client; uint32_t verify; struct pp2_tlv sub_tlv[0]; }
    value = bytes.fromhex("05 00 00 00 01 21 00 07") + b"TLSv1.2"
    assert parse_ssl(value) == SSLInfo(5, 1, (TLV(TLVType.SSL_VERSION, b"TLSv1.2"),))
    assert ssl_tlv(SSLInfo(5, 1, (TLV(TLVType.SSL_VERSION, b"TLSv1.2"),))) == TLV(TLVType.SSL, value)
    assert SSLInfo().version is None


@pytest.mark.parametrize("info", [SSLInfo(client=256), SSLInfo(verify=-1),
                                  SSLInfo(tlvs=(TLV(TLVType.SSL_VERSION, b"\xff"),))])
def test_unsendable_ssl(info: SSLInfo) -> None:
    with pytest.raises(PPLocalError):
        ssl_tlv(info)
