#!/usr/bin/env python3
"""RFC 9113 checks at the frame level, with raw sockets and hand-built frames.

Each case opens a fresh cleartext HTTP/2 connection (prior knowledge), sends what the case
needs and checks the server's reaction: a connection error (GOAWAY with a code), a stream error
(RST_STREAM with a code) or a normal answer. Prints "ok - NAME" or "FAIL - NAME" per case and
exits 1 if any failed.   usage: h2_frames.py PORT
"""
import socket
import struct
import sys

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR, REFUSED_STREAM = 0x0, 0x1, 0x3, 0x6, 0x7
PORT = int(sys.argv[1])


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    """HPACK literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def request_block(path=b"/healthz", extra=(), method=b"GET"):
    fields = [(b":method", method), (b":scheme", b"http"), (b":path", path), (b":authority", b"localhost")]
    return b"".join(literal(n, v) for n, v in fields + list(extra))


class Conn:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        self.buf = b""
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def send(self, data):
        self.s.sendall(data)

    def frames(self, limit=200):
        """Yields (type, flags, stream, payload) until the peer closes or goes quiet."""
        for _ in range(limit):
            while len(self.buf) < 9:
                try:
                    chunk = self.s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    return
                if not chunk:
                    return
                self.buf += chunk
            length = int.from_bytes(self.buf[:3], "big")
            while len(self.buf) < 9 + length:
                try:
                    chunk = self.s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    return
                if not chunk:
                    return
                self.buf += chunk
            ftype, flags = self.buf[3], self.buf[4]
            stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            yield ftype, flags, stream, payload

    def wait_for(self, pred):
        for f in self.frames():
            if pred(f):
                return f
        return None


def goaway_code(c):
    f = c.wait_for(lambda f: f[0] == GOAWAY)
    return None if f is None else struct.unpack(">I", f[3][4:8])[0]


def rst_code(c, stream):
    f = c.wait_for(lambda f: (f[0] == RST_STREAM and f[2] == stream) or f[0] == GOAWAY)
    if f is None or f[0] == GOAWAY:
        return None
    return struct.unpack(">I", f[3])[0]


failed = 0


def case(name, ok):
    global failed
    print(("ok - " if ok else "FAIL - ") + name)
    failed += 0 if ok else 1


# 3.4 / 6.5: the server's first frame is SETTINGS, and it acknowledges ours
c = Conn()
first = next(c.frames(), None)
case("server preface starts with SETTINGS", first is not None and first[0] == SETTINGS and not first[1] & ACK)
case("server acknowledges the client's SETTINGS", c.wait_for(lambda f: f[0] == SETTINGS and f[1] & ACK) is not None)

# 6.7: PING is answered with the same payload and ACK
c = Conn()
c.send(frame(PING, 0, 0, b"lode-h2!"))
f = c.wait_for(lambda f: f[0] == PING)
case("PING gets a PING ACK with the same payload", f is not None and f[1] & ACK and f[3] == b"lode-h2!")

# a complete request over raw frames
c = Conn()
c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, request_block()))
h = c.wait_for(lambda f: f[0] == HEADERS and f[2] == 1)
d = c.wait_for(lambda f: f[0] == DATA and f[2] == 1)
case("GET /healthz over raw frames answers 200", h is not None and h[3][:1] == b"\x88")  # HPACK index 8
case("the response body ends the stream", d is not None and d[1] & END_STREAM and b'"ok"' in d[3])

# 5.5: unknown frame types are ignored
c = Conn()
c.send(frame(0xFA, 0, 0, b"whatever") + frame(PING, 0, 0, b"12345678"))
case("an unknown frame type is ignored", c.wait_for(lambda f: f[0] == PING and f[1] & ACK) is not None)

# 6.1: DATA on stream 0 is a connection error PROTOCOL_ERROR
c = Conn()
c.send(frame(DATA, 0, 0, b"x"))
case("DATA on stream 0 -> GOAWAY PROTOCOL_ERROR", goaway_code(c) == PROTOCOL_ERROR)

# 5.1.1: a client stream id must be odd
c = Conn()
c.send(frame(HEADERS, END_STREAM | END_HEADERS, 2, request_block()))
case("an even client stream id -> GOAWAY PROTOCOL_ERROR", goaway_code(c) == PROTOCOL_ERROR)

# 6.9: WINDOW_UPDATE with increment 0 on the connection is a PROTOCOL_ERROR
c = Conn()
c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0)))
case("WINDOW_UPDATE of 0 on the connection -> GOAWAY PROTOCOL_ERROR", goaway_code(c) == PROTOCOL_ERROR)

# 6.9.1: a window growing past 2^31-1 is a FLOW_CONTROL_ERROR
c = Conn()
c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF)) * 2)
case("connection window overflow -> GOAWAY FLOW_CONTROL_ERROR", goaway_code(c) == FLOW_CONTROL_ERROR)

# 6.5.2: SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 is a FLOW_CONTROL_ERROR
c = Conn()
c.send(frame(SETTINGS, 0, 0, struct.pack(">HI", 0x4, 0x80000000)))
case("INITIAL_WINDOW_SIZE too large -> GOAWAY FLOW_CONTROL_ERROR", goaway_code(c) == FLOW_CONTROL_ERROR)

# 6.5: a SETTINGS payload that is not a multiple of 6 is a FRAME_SIZE_ERROR
c = Conn()
c.send(frame(SETTINGS, 0, 0, b"\x00\x01\x00"))
case("SETTINGS of bad length -> GOAWAY FRAME_SIZE_ERROR", goaway_code(c) == FRAME_SIZE_ERROR)

# 8.2.1: an upper-case header name makes the request malformed: stream error PROTOCOL_ERROR
c = Conn()
c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, request_block(extra=[(b"X-Upper", b"1")])))
case("upper-case header name -> RST_STREAM PROTOCOL_ERROR", rst_code(c, 1) == PROTOCOL_ERROR)

# 8.3.1: a request without :method is malformed
c = Conn()
c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1,
             literal(b":scheme", b"http") + literal(b":path", b"/healthz") + literal(b":authority", b"x")))
case("missing :method -> RST_STREAM PROTOCOL_ERROR", rst_code(c, 1) == PROTOCOL_ERROR)

# 8.2.2: connection-specific header fields are malformed in HTTP/2
c = Conn()
c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, request_block(extra=[(b"connection", b"keep-alive")])))
case("connection header -> RST_STREAM PROTOCOL_ERROR", rst_code(c, 1) == PROTOCOL_ERROR)

# 5.1: DATA on a stream the client already half-closed is a STREAM_CLOSED error
c = Conn()
c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, request_block()) + frame(DATA, 0, 1, b"late"))
f = c.wait_for(lambda f: f[0] in (GOAWAY, RST_STREAM))
case("DATA after END_STREAM -> STREAM_CLOSED error", f is not None and struct.unpack(">I", f[3][-4:] if f[0] == RST_STREAM else f[3][4:8])[0] == 0x5)

# 5.1.2: streams beyond SETTINGS_MAX_CONCURRENT_STREAMS (100) are refused
c = Conn()
c.wait_for(lambda f: f[0] == SETTINGS and not f[1] & ACK)
c.send(frame(SETTINGS, ACK, 0))
opened = b"".join(frame(HEADERS, END_HEADERS, 2 * i + 1, request_block(method=b"POST", path=b"/v1/attestations")) for i in range(101))
c.send(opened)
f = c.wait_for(lambda f: (f[0] == RST_STREAM and f[2] == 201) or f[0] == GOAWAY)
code = None if f is None else struct.unpack(">I", f[3] if f[0] == RST_STREAM else f[3][4:8])[0]
# RFC 9113 5.1.2 allows a stream error (PROTOCOL_ERROR or REFUSED_STREAM); nghttp2 answers a peer
# that acknowledged the limit with a connection error PROTOCOL_ERROR, which conformance suites accept
case("the 101st concurrent stream is refused (RST_STREAM or GOAWAY)",
     f is not None and (code in (REFUSED_STREAM, PROTOCOL_ERROR)) and (f[0] == RST_STREAM or
                                                                     struct.unpack(">I", f[3][:4])[0] == 199))

sys.exit(1 if failed else 0)
