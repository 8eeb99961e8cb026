"""Build classic pcap files of raw IPv4 packets (link type 101) for the tests."""

import struct

LINKTYPE_RAW = 101
CLIENT_NET = 10
SERVER = bytes([192, 0, 2, 80])
SYN, PSH_ACK = 0x02, 0x18


def client(number):
    """The address 10.x.y.z of client `number`."""
    return bytes([CLIENT_NET, (number >> 16) & 255, (number >> 8) & 255, number & 255])


def ipv4(protocol, source, payload, target=SERVER, ident=0, more_fragments=False):
    flags = 0x2000 if more_fragments else 0
    header = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(payload), ident, flags, 64, protocol, 0)
    return header + source + target + payload


def tcp(source_port, target_port, seq, flags, payload=b""):
    return struct.pack(">HHIIBBHHH", source_port, target_port, seq, 0, 0x50, flags, 65535, 0,
                       0) + payload


def udp(source_port, target_port, payload):
    return struct.pack(">HHHH", source_port, target_port, 8 + len(payload), 0) + payload


def write_pcap(path, packets):
    """Write `packets`, an iterable of (time in microseconds, bytes), to `path`."""
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW))
        for time_us, packet in packets:
            seconds, micros = divmod(1_700_000_000_000_000 + time_us, 1_000_000)
            out.write(struct.pack("<IIII", seconds, micros, len(packet), len(packet)))
            out.write(packet)
