#!/usr/bin/env python3
"""udp-bridge.py - put a CoAP server on UDP behind a Unix datagram socket,
so that coapd can use it as a Unix backend (tests, and servers that cannot
bind a Unix socket themselves).  Python 3 standard library only.

    udp-bridge.py [--idle S] [-v] SOCKET_PATH HOST:PORT

Each datagram arriving on SOCKET_PATH is sent on to HOST:PORT from a UDP
socket of its sender's own (one per Unix peer address, made on its first
datagram), and whatever HOST:PORT sends to that UDP socket goes back to that
peer: answers, separate responses, Observe notifications, and the peer's
ACKs and RSTs to them, all reach the right side.  A peer's UDP socket is
closed after --idle seconds (default 300) without traffic either way, or
when the peer is gone.  The bridge does not parse CoAP.
"""

import argparse, os, selectors, signal, socket, sys, time


def main():
    ap = argparse.ArgumentParser(description="Unix datagram to UDP bridge")
    ap.add_argument("path", help="Unix datagram socket to bind")
    ap.add_argument("target", metavar="HOST:PORT", help="the UDP server")
    ap.add_argument("--idle", type=float, default=300.0)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    host, _, port = args.target.rpartition(":")
    host = host.strip("[]")
    target = (host, int(port))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def log(*a):
        if args.verbose:
            print("udp-bridge:", *a, file=sys.stderr, flush=True)

    unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if os.path.exists(args.path):
        os.unlink(args.path)
    unix.bind(args.path)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    sel = selectors.DefaultSelector()
    sel.register(unix, selectors.EVENT_READ, None)
    peers = {}          # Unix peer address -> [UDP socket, last traffic]

    def close(peer, why):
        s = peers.pop(peer)[0]
        sel.unregister(s)
        s.close()
        log("closed %r: %s" % (peer, why))

    try:
        while True:
            for key, _ in sel.select(1.0):
                now = time.monotonic()
                if key.data is None:            # from a Unix peer
                    data, peer = unix.recvfrom(65536)
                    if not peer:                # unbound: cannot answer
                        log("datagram from an unbound socket dropped")
                        continue
                    if peer not in peers:
                        s = socket.socket(family, socket.SOCK_DGRAM)
                        s.connect(target)
                        sel.register(s, selectors.EVENT_READ, peer)
                        peers[peer] = [s, now]
                        log("new peer %r from %r" % (peer, s.getsockname()))
                    p = peers[peer]
                    p[1] = now
                    try:
                        p[0].send(data)
                    except OSError as e:        # an ICMP error: try again
                        log("send to %r: %s" % (target, e))
                else:                           # from the UDP server
                    peer = key.data
                    p = peers[peer]
                    try:
                        data = p[0].recv(65536)
                    except OSError:             # ICMP port unreachable
                        continue
                    p[1] = now
                    try:
                        unix.sendto(data, peer)
                    except (ConnectionRefusedError, FileNotFoundError) as e:
                        close(peer, e)
                    except OSError as e:        # buffer full: dropped
                        log("send to %r: %s" % (peer, e))
            now = time.monotonic()
            for peer in [q for q, p in peers.items() if now - p[1] > args.idle]:
                close(peer, "idle")
    except KeyboardInterrupt:
        pass
    finally:
        if os.path.exists(args.path):
            os.unlink(args.path)


if __name__ == "__main__":
    main()
