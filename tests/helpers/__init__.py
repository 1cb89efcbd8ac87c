"""What the test modules share, one module per concern.

A test module imports its helpers from here and takes shared fixtures from a
conftest.py, never from another test module (tests/project/test_harness.py checks):

- ``skips``: every skip goes through ``skip_or_fail``, which CI turns into a failure;
- ``ip``: ip(8) in the test namespace, the test addresses, ip(8)'s and pyroute2's views;
- ``processes``: child processes (another uid, a private /dev/net/tun, Ctrl-C) and fds;
- ``packets``: packets built and checked independently of the library;
- ``forward``: an offload TUN the kernel forwards out of a plain TUN, and what comes out;
- ``relay``: a TCP transfer between two namespaces joined only by a relay of two TUNs;
- ``sockets``: a UDP socket on the test address and what it received;
- ``queues``: reading a device queue until it is quiet;
- ``events``: link-event reader helpers;
- ``guard``: memory that ends right before an inaccessible page;
- ``counts``: short counts in the matrix, full ones under ``tox -e gauntlet``;
- ``netlink``: an encoder of rtnetlink replies and their parse on guarded memory.
"""
