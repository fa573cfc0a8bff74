#!/bin/sh
# examples/overlay-lab.sh: builds the underlay for examples/overlay.yaml on one machine, then
# applies it. Two namespaces stand in for two hosts, joined by a veth pair (the "wire"):
#
#   overlay-h1 (198.19.0.1/24) ---- veth ---- overlay-h2 (198.19.0.2/24)
#
# Run it inside the lab, where nothing touches the machine's real network:
#   scripts/lab sh examples/overlay-lab.sh
# and afterwards, in the same lab shell:
#   ./bin/tsnet.js exec examples/overlay.yaml a -- ping -c1 198.18.50.3   # a (on h1) reaches b (on h2) over VXLAN
#   ./bin/tsnet.js check examples/overlay.yaml                            # the checks written in the file
set -eu
# It changes what it finds (namespaces, a veth, forwarding): only inside the lab.
[ "${TSNET_LAB:-}" = 1 ] || { echo "$0: run it inside the lab: scripts/lab sh $0" >&2; exit 1; }
cd "$(dirname "$0")/.."
ip netns add overlay-h1
ip netns add overlay-h2
ip link add wire-h1 netns overlay-h1 type veth peer name wire-h2 netns overlay-h2
ip -n overlay-h1 addr add 198.19.0.1/24 dev wire-h1
ip -n overlay-h2 addr add 198.19.0.2/24 dev wire-h2
for h in overlay-h1 overlay-h2; do ip -n "$h" link set lo up; done
ip -n overlay-h1 link set wire-h1 up
ip -n overlay-h2 link set wire-h2 up
./bin/tsnet.js apply --auto-approve examples/overlay.yaml
./bin/tsnet.js exec examples/overlay.yaml a -- ping -c1 -W2 198.18.50.3
./bin/tsnet.js check examples/overlay.yaml   # the file's checks, run inside the sandboxes on both hosts
