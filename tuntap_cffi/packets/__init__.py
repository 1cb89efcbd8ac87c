"""Packets as the library hands them over and takes them: ``Packet`` and the read
rules, ``PacketBatch``, the C view of what a write takes (shared by the device and
the UDP underlay), the virtio-net offload flags, and pcap capture files."""
