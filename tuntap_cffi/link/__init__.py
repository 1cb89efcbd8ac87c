"""Link configuration over rtnetlink: ``Link`` (addresses with peers, routes,
counters, MTU, state, the IPv4/IPv6 ``conf`` switches), the netlink channel and
socket it reaches the device through, and link events."""
