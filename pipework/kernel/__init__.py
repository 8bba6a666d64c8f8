"""Programming the Linux kernel's data paths (nftables for L4 NAT/DR, netlink) (to come)."""
