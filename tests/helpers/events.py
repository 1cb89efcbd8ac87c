"""Link-event readers: nothing more comes, and a receive buffer small enough to overrun."""

from __future__ import annotations

import os
import socket
import time

from tuntap_cffi import LinkEvents


def nothing_more(events: LinkEvents, wait: float = 0.2) -> None:
    """No event comes within ``wait`` seconds, whatever the reader's own timeout."""
    deadline = time.monotonic() + wait
    while True:
        event = events.next_ready()
        assert event is None, f"unexpected event within {wait} s: {event}"
        if time.monotonic() >= deadline:
            return
        time.sleep(0.01)


def shrink_receive_buffer(events: LinkEvents) -> None:
    """The smallest SO_RCVBUF the kernel allows, set on the reader's socket."""
    with socket.socket(fileno=os.dup(events.fileno())) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
