"""Tests of the device and its queues: open, I/O, attach, adopt, hand over."""
