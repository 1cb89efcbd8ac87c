"""A UDP socket on the test address (``TUN_ADDR``), and what it received."""

from __future__ import annotations

import socket

from helpers.ip import TUN_ADDR


def receiver() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((TUN_ADDR, 0))
    sock.settimeout(0.5)
    return sock


def drain(sock: socket.socket) -> list[bytes]:
    got = []
    try:
        while True:
            got.append(sock.recv(4096))
    except socket.timeout:
        return got
