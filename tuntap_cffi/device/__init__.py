"""The TUN/TAP device and its queues: ``Queue`` (every packet call, batches
included), ``Interface``, ``open``/``open_queues``, attaching fds to a device,
adopting an fd opened elsewhere and handing a device to another process."""
