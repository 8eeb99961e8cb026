#!/usr/bin/python3
"""A minimal NATS client that sends what a hostile fleet member could send.

usage:
  raw_client.py rogue-agent URL SUBJECT
      Subscribes to SUBJECT (the search subject) and replies to every search request with
      malformed replies, until it is killed. Prints "ready" once subscribed.
  raw_client.py subscribe URL SUBJECT
      Subscribes to SUBJECT and prints "subscribed", or the server's error and exits 1.
  raw_client.py requests URL SUBJECT SECONDS
      Publishes malformed search requests on SUBJECT, each with its own inbox, and prints
      every reply received within SECONDS as one JSON line {"request": N, "reply": TEXT}.

It speaks the NATS client protocol directly (INFO, CONNECT, SUB, PUB, MSG, PING), so that
it can send bytes that protowatch itself never would.
"""

import json
import socket
import sys
import time
from urllib.parse import urlsplit

DEEP = 100_000  # nesting levels, far beyond what a copy of a JSON value survives


def malformed_replies():
    """Replies that a requester must survive, all from devices other than real agents."""
    chunk = {"type": "chunk", "device": "rogue-1", "index": 0}
    return [
        b"",
        b"not json",
        b"[]",
        b'{"type": 5}',
        b'{"type": "chunk", "device": 7, "index": 0, "events": []}',
        json.dumps({**chunk, "index": -1, "events": []}).encode(),
        json.dumps({**chunk, "events": "x"}).encode(),
        json.dumps({**chunk, "device": "rogue-2", "events": [1, "x", {"type_id": "a"}]}).encode(),
        json.dumps({"type": "error", "device": "rogue-3", "error": ""}).encode(),
        json.dumps({"type": "done", "device": "rogue-4", "count": 2**64 - 1,
                    "warnings": {"a": 1}}).encode(),
        b'{"type": "chunk", "device": "rogue-5", "index": 0, "events": ' + b"[" * DEEP +
        b"]" * DEEP + b"}",
    ]


def malformed_requests():
    """Requests that an agent must reject with an error reply, and survive."""
    return [
        b"",
        b"not json",
        b'{"query": 5}',
        b'{"query": "protocol = DNS", "window": -1}',
        b'{"query": "protocol = DNS", "chunk_events": "all"}',
        b'{"query": "protocol = DNS", "x": ' + b"[" * DEEP + b"]" * DEEP + b"}",
        b'{"query": "' + b"(" * 1000 + b'"}',
        b'{"query": "x\xff\xfe = 1"}',
    ]


class Client:
    def __init__(self, url):
        parts = urlsplit(url)
        self.socket = socket.create_connection((parts.hostname, parts.port), timeout=30)
        self.buffer = b""
        self.read_line()  # INFO
        connect = {"verbose": False, "pedantic": False, "protocol": 1, "name": "raw_client"}
        if parts.username:
            connect.update(user=parts.username, **{"pass": parts.password})
        self.send(b"CONNECT " + json.dumps(connect).encode() + b"\r\n")

    def send(self, data):
        self.socket.sendall(data)

    def publish(self, subject, payload, reply=""):
        head = f"PUB {subject} {reply} {len(payload)}\r\n".replace("  ", " ")
        self.send(head.encode() + payload + b"\r\n")

    def read_line(self):
        while b"\r\n" not in self.buffer:
            data = self.socket.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read_bytes(self, count):
        while len(self.buffer) < count + 2:
            data = self.socket.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.buffer += data
        payload, self.buffer = self.buffer[:count], self.buffer[count + 2:]
        return payload

    def flush(self):
        """Waits until the server has processed everything sent so far. Messages that arrive
        meanwhile are lost, so call it only before any can arrive."""
        self.send(b"PING\r\n")
        while True:
            line = self.read_line()
            if line == b"PONG":
                return
            if line.startswith(b"-ERR"):
                raise ConnectionError(line.decode(errors="replace"))

    def next_message(self):
        """Returns (subject, reply, payload) of the next message, replying to pings."""
        while True:
            line = self.read_line()
            if line == b"PING":
                self.send(b"PONG\r\n")
            elif line.startswith(b"MSG "):
                fields = line.decode().split()
                reply = fields[3] if len(fields) == 5 else ""
                return fields[1], reply, self.read_bytes(int(fields[-1]))
            elif line.startswith(b"-ERR"):
                raise ConnectionError(line.decode(errors="replace"))


def rogue_agent(url, subject):
    client = Client(url)
    client.send(f"SUB {subject} 1\r\n".encode())
    client.flush()
    print("ready", flush=True)
    while True:
        _, reply, _ = client.next_message()
        if reply:
            for payload in malformed_replies():
                client.publish(reply, payload)


def subscribe(url, subject):
    client = Client(url)
    client.send(f"SUB {subject} 1\r\n".encode())
    try:
        client.flush()
    except ConnectionError as error:
        sys.exit(str(error))
    print("subscribed")


def requests(url, subject, seconds):
    client = Client(url)
    client.send(b"SUB _INBOX.raw.* 1\r\n")
    client.flush()
    # No flush after the requests: flush() drops the replies that arrive before its PONG.
    for number, payload in enumerate(malformed_requests()):
        client.publish(subject, payload, f"_INBOX.raw.{number}")
    client.socket.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            inbox, _, payload = client.next_message()
        except socket.timeout:
            continue
        print(json.dumps({"request": int(inbox.rsplit(".", 1)[1]),
                          "reply": payload.decode(errors="replace")}), flush=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "rogue-agent":
        rogue_agent(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "subscribe":
        subscribe(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "requests":
        requests(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
