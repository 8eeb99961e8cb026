#!/usr/bin/python3
"""A small UDP server for the agent's live tests: answers DNS queries on one port with an
A record (192.0.2.1, from the documentation range of RFC 5737) and echoes datagrams on
another. Usage: udp_responder.py ADDRESS DNS_PORT ECHO_PORT"""

import select
import socket
import struct
import sys


def dns_answer(query):
    """Return a response to a standard query: the question, then one A record."""
    if len(query) < 12:
        return None
    ident, _flags, questions = struct.unpack("!HHH", query[:6])
    if questions != 1:
        return None
    end = 12
    while end < len(query) and query[end] != 0:
        end += query[end] + 1
    question = query[12:end + 5]  # the name, its terminating zero, the type and the class
    header = struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0)
    # A pointer to the name at offset 12, type A, class IN, TTL 60, 4 bytes of address.
    answer = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([192, 0, 2, 1])
    return header + question + answer


def main():
    address, dns_port, echo_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind((address, dns_port))
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind((address, echo_port))
    while True:
        ready, _, _ = select.select([dns, echo], [], [])
        for server in ready:
            data, peer = server.recvfrom(65535)
            reply = dns_answer(data) if server is dns else data
            if reply:
                server.sendto(reply, peer)


if __name__ == "__main__":
    main()
