"""Free loopback ports for the sandbox's servers and peers (asked of the kernel, bound by the caller next).

The kernel picks a port free at the time of asking; the caller binds it just after, so a port
can in rare cases be taken in between: the sandboxes that start real servers retry on that.
"""

from __future__ import annotations

import socket


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port free on ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
