"""Tests of packets: the read rules, batches, offloads and coalescing, pcap."""
