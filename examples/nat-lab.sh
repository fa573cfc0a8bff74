#!/bin/sh
# examples/nat-lab.sh: applies examples/nat.yaml next to a stand-in for the internet, then shows
# that the sandbox reaches it only through the NAT. The "internet" is a namespace made by hand
# (tsnet does not own it and never touches it), joined to the host by a veth pair:
#
#   nat-app (198.18.64.2) -- tsn-private (198.18.64.1) == host == uplink (203.0.113.1) -- internet (203.0.113.2)
#
# The internet has no route back to 198.18.64.0/24: its replies reach the sandbox only because
# the host rewrote the source to 203.0.113.1. Run it inside the lab (needs nft and ping):
#   scripts/lab sh examples/nat-lab.sh
set -eu
# It changes what it finds (namespaces, a veth, forwarding): only inside the lab.
[ "${TSNET_LAB:-}" = 1 ] || { echo "$0: run it inside the lab: scripts/lab sh $0" >&2; exit 1; }
cd "$(dirname "$0")/.."
ip netns add internet
ip link add uplink type veth peer name eth0 netns internet
ip addr add 203.0.113.1/24 dev uplink
ip link set uplink up
ip -n internet addr add 203.0.113.2/24 dev eth0
ip -n internet link set lo up
ip -n internet link set eth0 up
sysctl -q -w net.ipv4.ip_forward=1       # the host forwards (in the lab: the lab's own setting)
./bin/tsnet.js apply --auto-approve examples/nat.yaml
./bin/tsnet.js exec examples/nat.yaml app -- ping -c1 -W2 203.0.113.2
nft list table inet tsnet-nat
./bin/tsnet.js check examples/nat.yaml       # the file's checks
