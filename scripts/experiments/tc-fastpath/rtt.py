#!/usr/bin/env python3
"""One-byte TCP round trips, like vpcep-bench P3 (both ends pinned to the last CPU by the caller).

  rtt.py serve PORT         echo every byte of every connection (one thread per connection)
  rtt.py ping HOST PORT N   N exchanges of one byte; prints "p50 p90" in microseconds
"""
import socket
import sys
import threading
import time


def echo(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            b = c.recv(1)
            if not b:
                return
            c.sendall(b)
    finally:
        c.close()


def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


def ping(host, port, n):
    s = socket.create_connection((host, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = []
    for _ in range(n):
        a = time.perf_counter_ns()
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise SystemExit("short read")
        t.append((time.perf_counter_ns() - a) / 1000)
    s.close()
    t.sort()
    print(f"{t[len(t) // 2]:.1f} {t[len(t) * 9 // 10]:.1f}")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        ping(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
