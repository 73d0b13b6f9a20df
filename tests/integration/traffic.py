"""Makes loopback TCP connections: connect, accept, close, `count` times.

Run inside the test's network namespace. Prints one JSON line with the
listener port and the client ports used, so the test knows every socket.
"""

import argparse
import json
import socket
import struct
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", choices=("4", "6"), default="4")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--rst", action="store_true", help="close the client with RST (SO_LINGER 0)")
    ap.add_argument("--rate", type=float, default=0, help="connections per second, 0 = flat out")
    args = ap.parse_args()

    family = socket.AF_INET6 if args.family == "6" else socket.AF_INET
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, args.port))
    srv.listen(4096)
    client_ports = []
    start = time.time()
    for i in range(args.count):
        c = socket.socket(family, socket.SOCK_STREAM)
        if args.rst:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.connect((host, args.port))
        a, _ = srv.accept()
        client_ports.append(c.getsockname()[1])
        # The client closes first: the classic active/passive close pair.
        c.close()
        if not args.rst:
            a.recv(1)  # wait for the client's FIN before closing our side
        a.close()
        if args.rate:
            delay = start + (i + 1) / args.rate - time.time()
            if delay > 0:
                time.sleep(delay)
    srv.close()
    # Let the last FIN/ACK exchange finish before reporting.
    time.sleep(0.2)
    print(json.dumps({"port": args.port, "family": args.family, "client_ports": client_ports}))


if __name__ == "__main__":
    main()
