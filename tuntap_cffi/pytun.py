"""python-pytun's API on this library: ``from tuntap_cffi import pytun`` for ``import pytun``.

Everything python-pytun 2.4.2 exports, with the same names, values and
behaviour call for call: :class:`TunTapDevice` with its ``name``, ``addr``,
``dstaddr``, ``netmask``, ``mtu`` and ``hwaddr`` properties and its ``read``,
``write``, ``fileno``, ``close``, ``up``, ``down``, ``persist`` and
``mq_attach`` methods; :class:`Error` (an ``OSError``) with the errno
python-pytun gives; the ``IFF_*`` flags. The framing each flag gives is the
kernel's, byte for byte: without ``IFF_NO_PI`` every packet read starts with
the 4-byte packet information and every write must carry one; with
``IFF_VNET_HDR`` a 10-byte virtio-net header comes first.

The differences are improvements:

- ``close()`` from another thread wakes a ``read()`` blocked on the device
  within 50 ms, which raises :class:`Error` (EBADF); python-pytun's stays
  blocked until a packet comes;
- reads and writes are this library's bytes path (``Interface.read`` and
  ``write``: one C call, the write rules checked in C), and Ctrl-C stops a
  blocked read;
- :attr:`TunTapDevice.interface` is the same device as a
  :class:`~tuntap_cffi.Interface`, so a ported program can move to batches,
  IPv6 addresses, routes and events one call at a time;
- the configuration goes through rtnetlink, with the ioctls' rules
  (``tuntap_cffi.link.ifreq``), and error messages name the call and the
  device;
- the fd is close-on-exec and non-blocking (``os.read`` on ``fileno()``
  says ``BlockingIOError`` when nothing is queued; ``select`` first, as with
  any non-blocking fd).
"""

from __future__ import annotations

import errno
import operator
import os
import platform
import socket
import sys
import warnings
from typing import Callable, SupportsIndex, SupportsInt, TypeVar, Union, cast

from . import _lowlevel
from .device.interface import Interface
from .errors import InterfaceClosedError
from .link import ifreq
from .packets.packet import DevKind

__all__ = [
    "IFF_MULTI_QUEUE",
    "IFF_NO_PI",
    "IFF_ONE_QUEUE",
    "IFF_TAP",
    "IFF_TUN",
    "IFF_TUN_EXCL",
    "IFF_VNET_HDR",
    "Error",
    "TunTapDevice",
]

# <linux/if_tun.h>, the values python-pytun exports.
IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_MULTI_QUEUE = 0x0100
IFF_NO_PI = 0x1000
IFF_ONE_QUEUE = 0x2000
IFF_VNET_HDR = 0x4000
IFF_TUN_EXCL = 0x8000

CLONE_DEVICE = "/dev/net/tun"
_IFNAMSIZ = 16
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
T = TypeVar("T")
# The drop-in's queue takes every size the kernel takes (python-pytun checks none).
_NO_LIMIT = 2**64 - 1

_recv_next = _lowlevel.queue_recv_next
_send_now = _lowlevel.queue_send_now
_copy = _lowlevel.copy_bytes
# CPython reads into the storage of a bytes object and slices it (device/queue.py).
_SLICED = platform.python_implementation() != "PyPy"
_RETRY = (-errno.EAGAIN, -errno.EINTR)
_BUSY = -errno.EBUSY


class Error(OSError):
    """This exception is raised when an error occurs: a system call's failure
    (``errno`` and ``strerror`` set, as python-pytun sets them) or a bad
    argument python-pytun itself refuses (a message only)."""


def _error(err: int, operation: str, name: str = "") -> Error:
    """The Error of errno ``err`` from ``operation`` on device ``name``."""
    where = f"{operation} on {name}" if name else operation
    return Error(err, f"{where}: {os.strerror(err)}")


def _from_os_error(exc: OSError) -> Error:
    """An OSError of the library (its message names the call and the device) as an Error."""
    err = exc.errno if exc.errno is not None else errno.EIO
    return Error(err, str(exc.strerror or os.strerror(err)))


def _c_string(value: object, what: str) -> bytes:
    """A ``s`` argument as the C API takes it: a str with no NUL, in UTF-8."""
    if not isinstance(value, str):
        raise TypeError(f"TunTapDevice() argument '{what}' must be str, not {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"TunTapDevice() argument '{what}': embedded null character")
    return value.encode("utf-8")


def _c_int(value: object, low: int, high: int, what: str) -> int:
    """An integer argument of a C type: its value through ``__index__``, in range."""
    number = operator.index(cast(SupportsIndex, value))
    if number < low:
        raise OverflowError(f"{what}: signed integer is less than minimum")
    if number > high:
        raise OverflowError(f"{what}: signed integer is greater than maximum")
    return number


def _c_long(value: object, what: str) -> int:
    """A value as ``PyLong_AsLong`` takes it on this Python: through ``__index__``;
    before 3.10 also through ``__int__`` (a float is cut), with its DeprecationWarning."""
    kind = type(value)
    if sys.version_info < (3, 10) and not hasattr(kind, "__index__") and hasattr(kind, "__int__"):
        warnings.warn(
            f"an integer is required (got type {kind.__name__}).  Implicit conversion to "
            "integers using __int__ is deprecated, and may be removed in a future version "
            "of Python.",
            DeprecationWarning,
            stacklevel=3,
        )
        number = int(cast(SupportsInt, value))
        if not _LONG_MIN <= number <= _LONG_MAX:
            raise OverflowError(f"{what}: Python int too large to convert to C long")
        return number
    return _c_int(value, _LONG_MIN, _LONG_MAX, what)


def _ipv4(value: object) -> bytes:
    """A dotted address as python-pytun's setters take it (inet_aton, ASCII)."""
    if not isinstance(value, str):
        raise TypeError("bad argument type for built-in operation")
    text = value.encode("ascii").split(b"\0", 1)[0].decode("ascii")
    try:
        return socket.inet_aton(text)
    except (OSError, ValueError):
        raise Error("Bad IP address") from None


def _check_flag(flag: object, method: str) -> bool:
    if not isinstance(flag, bool):
        raise TypeError(f"{method}() argument 1 must be bool, not {type(flag).__name__}")
    return flag


def _address_property(get: str, put: str, doc: str) -> property:
    """An IPv4 address of :class:`TunTapDevice` as python-pytun's properties give it:
    dotted, read with ``ifreq.<get>``, set with ``ifreq.<put>``."""

    def getter(device: TunTapDevice) -> str:
        return socket.inet_ntoa(cast(bytes, device._config(get)))

    def setter(device: TunTapDevice, value: str) -> None:
        device._config(put, _ipv4(value))

    return property(getter, setter, doc=doc)


class _Queue(Interface):
    """The Interface a TunTapDevice is: framed as its flags say, no write limit of
    its own, and closed without a warning when it is dropped (as python-pytun's)."""

    def _mtu_changed(self, mtu: int) -> None:
        """Keep taking every size: the kernel's rules are python-pytun's."""

    def __del__(self) -> None:
        lifetime = getattr(self, "_lifetime", None)
        if lifetime is not None and not lifetime.closed:
            self.close()


def _attach(name: bytes, flags: int, dev: str) -> _Queue:
    """Open ``dev`` and attach it with ``flags`` as python-pytun does; the queue."""
    fd = _lowlevel.open_clone(dev)
    if fd < 0:
        raise _error(-fd, f"open {dev}")
    wakefd = -1
    try:
        result, got = _lowlevel.set_iff_flags(fd, name, flags)
        label = got.decode("utf-8", "replace") or name.decode("utf-8", "replace")
        if result < 0:
            raise _error(-result, "TUNSETIFF", label)
        _lowlevel.set_nonblocking(fd, label)
        wakefd = _lowlevel.new_wake_fd(label)
        kind = DevKind.TUN if flags & IFF_TUN else DevKind.TAP
        queue = _Queue(fd, wakefd, label, kind, multi_queue=bool(flags & IFF_MULTI_QUEUE))
    except BaseException:
        for opened in (fd, wakefd):
            if opened >= 0:
                _lowlevel.close_fd(opened, "")
        raise
    framing = 0 if flags & IFF_NO_PI else _lowlevel.FRAME_PI
    if flags & IFF_VNET_HDR:
        framing |= _lowlevel.FRAME_VNET
    queue._set_framing(framing)
    queue._q.write_limit = _NO_LIMIT
    return queue


class TunTapDevice:
    """TunTapDevice(name='', flags=IFF_TUN, dev='/dev/net/tun') -> TUN/TAP device object."""

    __slots__ = (
        "__weakref__",
        "_bb",
        "_cbuf",
        "_closed",
        "_fd",
        "_lifetime",
        "_name",
        "_q",
        "_queue",
    )

    def __init__(self, name: str = "", flags: int = IFF_TUN, dev: str = CLONE_DEVICE) -> None:
        raw_name = _c_string(name, "name")
        flags = _c_int(flags, _INT_MIN, _INT_MAX, "flags")
        _c_string(dev, "dev")
        if not flags & (IFF_TUN | IFF_TAP):
            raise Error("Bad flags: either IFF_TUN or IFF_TAP must be set")
        if flags & IFF_TUN and flags & IFF_TAP:
            raise Error("Bad flags: IFF_TUN and IFF_TAP could not both be set")
        if len(raw_name) >= _IFNAMSIZ:
            raise Error("Interface name too long")
        queue = _attach(raw_name, flags, dev)
        self._queue = queue
        self._name = queue.name
        self._fd = queue.fileno()
        self._q = queue._q
        self._lifetime = queue._lifetime
        self._bb, self._cbuf = queue.scratch()  # made now: it never changes
        self._closed = False

    # -- the way out ---------------------------------------------------------

    @property
    def interface(self) -> Interface:
        """This device as a :class:`~tuntap_cffi.Interface` (the same fd and queue):
        batches, IPv6 addresses, routes, events, statistics. Its packet calls
        take off and put on the headers the flags asked for; closing either
        closes both."""
        return self._queue

    # -- packets -------------------------------------------------------------

    # read() and write() are counted by their C calls (the queue's gate), as the
    # Interface's own read() and write() are: a close() meanwhile wakes them,
    # later calls are refused (-ECANCELED: EBADF here), and the fds are released
    # only once they are out.

    def read(self, size: int) -> bytes:
        """read(size) -> read at most size bytes, returned as a string."""
        if type(size) is not int or size <= 0:
            return self._read_other(size)
        n = _recv_next(self._q)
        if 0 <= n <= size:
            return self._bb[:n] if _SLICED else _copy(self._cbuf, n)  # type: ignore[index]
        return self._read_rest(size, n)

    def _read_other(self, size: object) -> bytes:
        """read() of a size that is not a plain int > 0."""
        # python-pytun takes an unsigned int without overflow checking ("I").
        length = operator.index(cast(SupportsIndex, size)) & 0xFFFFFFFF
        if length:
            return self.read(length)
        # read(2) of nothing: 0 at once, or the fd's error.
        return self._call("read", lambda: self._queue._read_slow(0, None))

    def _read_rest(self, size: int, result: int) -> bytes:
        """A read that did not give ``size`` bytes or fewer at once: a packet to cut,
        or the wait, which lasts until a packet comes (in slices: Ctrl-C and
        close() are seen between them). Each C call here counts itself (the gate)."""
        queue = self._queue
        while result < 0:
            if result == _BUSY:  # another thread is reading into the scratch
                return self._call("read", lambda: queue._read_slow(size, None))
            if result not in _RETRY:
                raise self._io_error(-result, "read")
            result = _recv_next(self._q)
        return self._call("read", lambda: queue._cut(queue._scratch_bytes(result), size))

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        """A call of the queue's, its errors as python-pytun's."""
        try:
            return call()
        except InterfaceClosedError:
            raise _error(errno.EBADF, operation, f"closed device {self._name}") from None
        except OSError as exc:
            if isinstance(exc, Error):
                raise
            raise _from_os_error(exc) from None

    def write(self, buf: Union[bytes, str]) -> int:  # noqa: UP007 - the stub's spelling
        """write(str) -> number of bytes written.
        Write str to device."""
        if type(buf) is not bytes:
            return self._write_other(buf)
        n = _send_now(self._q, buf, len(buf))
        if n < 0:
            n = self._write_waiting(buf, n)
        return n

    def _write_other(self, buf: object) -> int:
        """write() of a str, a bytes subclass or anything else (refused as python-pytun does)."""
        if isinstance(buf, str):
            return self.write(buf.encode("utf-8"))
        if isinstance(buf, bytes):
            return self.write(bytes(buf))
        raise TypeError(
            f"write() argument 1 must be read-only bytes-like object, not {type(buf).__name__}"
        )

    def _write_waiting(self, buf: bytes, result: int) -> int:
        """The wait of a write the device could not take yet (or the error it got)."""
        while result < 0:
            if result not in _RETRY:
                raise self._io_error(-result, "write")
            result = _send_now(self._q, buf, len(buf))
        return int(result)

    def _io_error(self, err: int, operation: str) -> Error:
        """The Error of a read or write: on a closed device, EBADF (as python-pytun's
        fd of -1 gives)."""
        if err == errno.ECANCELED:
            return _error(errno.EBADF, operation, f"closed device {self._name}")
        return _error(err, operation, self._name)

    def fileno(self) -> int:
        """fileno() -> integer "file descriptor"."""
        return -1 if self._closed else self._fd

    def close(self) -> None:
        """close() -> None.
        Close the device."""
        self._closed = True
        self._queue.close()

    # -- the device's fd -----------------------------------------------------

    def _ioctl(self, operation: str, call: int, arg: bool) -> None:
        """An ioctl on the fd, held open by the usage count while it runs."""
        try:
            with self._queue.using_fd(operation) as fd:
                result = (
                    _lowlevel.set_persist(fd, arg) if call == 0 else _lowlevel.set_queue(fd, arg)
                )
        except InterfaceClosedError:
            raise _error(errno.EBADF, operation, f"closed device {self._name}") from None
        if result < 0:
            raise _error(-result, operation, self._name)

    def persist(self, flag: bool = True) -> None:
        """persist(flag) -> None.
        Make the TUN/TAP persistent if flags is True else
        make it non-persistent."""
        self._ioctl("TUNSETPERSIST", 0, _check_flag(flag, "persist"))

    def mq_attach(self, flag: bool = True) -> None:
        """mq_attach(flag) -> None.
        Enable the queue if flags is True else
        disable the queue."""
        self._ioctl("TUNSETQUEUE", 1, _check_flag(flag, "attach"))

    # -- configuration, by name (as the ioctls are) ---------------------------------

    def _config(self, call: str, *args: object) -> object:
        try:
            return getattr(ifreq, call)(self._name, *args)
        except Error:
            raise
        except OSError as exc:
            raise _from_os_error(exc) from None

    @property
    def name(self) -> str:
        """The device's name, as the kernel chose it (kept after ``close()``)."""
        return self._name

    addr = _address_property(
        "get_addr",
        "set_addr",
        """The device's IPv4 address: the first one labelled with its name (SIOCGIFADDR).

        Set: replaces it, a /32 on a TUN, the address class's prefix (and
        broadcast address) on a TAP; ``"0.0.0.0"`` removes it (SIOCSIFADDR).
        """,
    )
    dstaddr = _address_property(
        "get_dstaddr",
        "set_dstaddr",
        "The other end of the address (the address itself when it has none); settable.",
    )
    netmask = _address_property(
        "get_netmask",
        "set_netmask",
        "The address's netmask; settable (a non-contiguous one is ``EINVAL``).",
    )

    @property
    def hwaddr(self) -> bytes:
        """The 6-byte hardware address (zeros on a TUN); settable on a TAP, with bytes."""
        return cast(bytes, self._config("get_hwaddr"))

    @hwaddr.setter
    def hwaddr(self, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise TypeError(f"expected bytes, {type(value).__name__} found")
        if len(value) != ifreq.ETH_ALEN:
            raise Error("Bad MAC address")
        self._config("set_hwaddr", bytes(value))

    @property
    def mtu(self) -> int:
        """The device's MTU; settable (``Error`` for values <= 0, ``EINVAL`` out of range)."""
        return cast(int, self._config("get_mtu"))

    @mtu.setter
    def mtu(self, value: int) -> None:
        # python-pytun: a C long, cut to an int; <= 0 refused before the kernel sees it.
        number = _c_long(value, "mtu") & 0xFFFFFFFF
        if number >= 2**31:
            number -= 2**32
        if number <= 0:
            raise Error("Bad MTU, should be > 0")
        self._config("set_mtu", number)

    def up(self) -> None:
        """up() -> None.
        Bring up the device."""
        self._config("set_up", True)

    def down(self) -> None:
        """down() -> None.
        Bring down the device."""
        self._config("set_up", False)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._fd}"
        return f"<tuntap_cffi.pytun.TunTapDevice {self._name} {state}>"
