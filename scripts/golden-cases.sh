#!/bin/sh
# scripts/golden-cases.sh [CASE...]: rebuilds state/ of the golden plan cases in
# test/fixtures/plan/ from the real kernel. Each case runs in a fresh lab (scripts/lab): the
# topology is applied with tsnet, the drift is made by hand with `ip`, and
# scripts/capture-state.mjs records what the kernel holds. topology.yaml is what is planned
# against that state; it is the case's own file unless the case copies an example.
# Afterwards write and review the plans:
#   UPDATE_GOLDEN=1 npx vitest run --project unit test/unit/plan-golden.test.ts
# VERIFY=1 also checks the plan on the captured kernel: its do lines and then its undo lines
# are run (scripts/plan-roundtrip.mjs: the kernel must match the file, then be as before), and
# then `tsnet apply` must leave nothing to do (or refuse, for cases whose plan has errors).
# Kernel-made values (MACs of veths, link-local addresses) change on every capture, so
# expected.txt changes with them where a plan shows them.
set -eu
cd "$(dirname "$0")/.."
T=test/fixtures/plan

# Host-side veth ends of examples/bridge.yaml (hash of topology, sandbox, interface).
SERVER_VETH=tsv4dc019a9

apply() { ./bin/tsnet.js apply --auto-approve "$@" >/dev/null; }
capture() {
  rm -rf "$T/$CASE/state"
  node scripts/capture-state.mjs "$T/$CASE" >/dev/null
}
example() { mkdir -p "$T/$CASE" && cp "examples/$1" "$T/$CASE/topology.yaml"; }
in_ns() { ns=$1; shift; nsenter --net="/run/netns/$ns" -- "$@"; }

# --- create from empty -----------------------------------------------------------------
case_create_from_empty() { example bridge.yaml; capture; }
case_create_router_sysctls() { example router.yaml; capture; }
case_create_dualstack() { example dualstack.yaml; capture; }
case_create_modes() { example modes.yaml; capture; }
case_create_auto_subnet() { example auto-subnet.yaml; capture; }

# --- no change after apply ---------------------------------------------------------------
case_nochange_bridge() { example bridge.yaml; apply "$T/$CASE/topology.yaml"; capture; }
case_nochange_router() { example router.yaml; apply "$T/$CASE/topology.yaml"; TSNET_CAPTURE_SYSCTLS=net.ipv4.ip_forward capture; }
case_nochange_dualstack() { example dualstack.yaml; apply "$T/$CASE/topology.yaml"; capture; }
case_nochange_modes() { example modes.yaml; apply "$T/$CASE/topology.yaml"; capture; }
case_nochange_auto_subnet() { example auto-subnet.yaml; apply "$T/$CASE/topology.yaml"; capture; }

# --- shaping (issue 12): qdiscs read with tc where a link holds a non-default one -----------
shaping_capture() { TSNET_CAPTURE_SYSCTLS=net.ipv4.ip_forward capture; }
case_create_shaping_netem() { capture; }
case_nochange_shaping() { example wan-rate.yaml; apply "$T/$CASE/topology.yaml"; shaping_capture; }
case_change_shaping_rate() { apply examples/wan-rate.yaml; shaping_capture; }
case_remove_shaping() { apply examples/wan-rate.yaml; shaping_capture; }
case_drift_shaping_rate() { example wan-rate.yaml; apply "$T/$CASE/topology.yaml"; in_ns wan-rate-ra tc qdisc change dev eth1 root tbf rate 5mbit burst 5000b limit 67500b; shaping_capture; }
case_drift_shaping_foreign_qdisc() { example wan-rate.yaml; apply "$T/$CASE/topology.yaml"; in_ns wan-rate-rb tc qdisc replace dev eth1 root htb default 1; shaping_capture; }

# --- drift: made by hand after apply -------------------------------------------------------
drift() { example bridge.yaml; apply "$T/$CASE/topology.yaml"; "$@"; capture; }
case_drift_address_removed() { drift ip -n bridge-server addr del 198.18.10.10/24 dev eth0; }
case_drift_extra_address() { drift ip -n bridge-server addr add 198.18.10.99/24 dev eth0; }
case_drift_extra_bridge_address() { drift ip addr add 198.18.10.254/24 dev tsn-web; }
case_drift_inner_link_down() { drift ip -n bridge-server link set eth0 down; }
case_drift_host_end_down() { drift ip link set "$SERVER_VETH" down; }
case_drift_bridge_down() { drift ip link set tsn-web down; }
case_drift_bridge_mtu() { drift ip link set tsn-web mtu 1400; }
case_drift_endpoint_mtu() { drift ip -n bridge-server link set eth0 mtu 1400; }
case_drift_host_end_mtu() { drift ip link set "$SERVER_VETH" mtu 1400; }
case_drift_host_end_detached() { drift ip link set "$SERVER_VETH" nomaster; }
case_drift_veth_deleted() { drift ip link del "$SERVER_VETH"; }
case_drift_namespace_deleted() { drift ip netns del bridge-server; }
case_drift_default_route_removed() { drift ip -n bridge-server route del default; }
case_drift_lo_down() { drift ip -n bridge-server link set lo down; }
case_drift_ipv6_reenabled() {
  drift sh -c 'ip -n bridge-server link set eth0 addrgenmode eui64 &&
    ip -n bridge-server addr add fe80::2c0:ffff:fe12:a0a/64 dev eth0'
}
case_drift_route_via_changed() {
  example router.yaml
  apply "$T/$CASE/topology.yaml"
  # As tsnet would have written it (its protocol), but through another gateway.
  ip -n router-left route replace 198.18.31.0/24 via 198.18.30.1 proto 116
  TSNET_CAPTURE_SYSCTLS=net.ipv4.ip_forward capture
}
case_drift_sysctl_ip_forward() {
  example router.yaml
  apply "$T/$CASE/topology.yaml"
  in_ns router-router sysctl -qw net.ipv4.ip_forward=0
  TSNET_CAPTURE_SYSCTLS=net.ipv4.ip_forward capture
}
case_drift_mac_changed() {
  apply "$T/$CASE/topology.yaml"
  ip -n macs-server link set eth0 address 02:42:c6:12:0b:99
  capture
}
case_drift_mac_unmanaged() { drift ip -n bridge-server link set eth0 address 02:00:00:00:00:99; }

# --- removal -------------------------------------------------------------------------------
case_remove_sandbox() { apply examples/bridge.yaml; capture; }
case_remove_network() { apply examples/router.yaml; TSNET_CAPTURE_SYSCTLS=net.ipv4.ip_forward capture; }
case_remove_route() { apply examples/router.yaml; TSNET_CAPTURE_SYSCTLS=net.ipv4.ip_forward capture; }
case_remove_endpoint() { apply examples/router.yaml; TSNET_CAPTURE_SYSCTLS=net.ipv4.ip_forward capture; }
case_destroy_bridge() { example bridge.yaml; echo destroy >"$T/$CASE/mode"; apply "$T/$CASE/topology.yaml"; capture; }
case_destroy_router() { example router.yaml; echo destroy >"$T/$CASE/mode"; apply "$T/$CASE/topology.yaml"; TSNET_CAPTURE_SYSCTLS=net.ipv4.ip_forward capture; }

# --- changes in the file ---------------------------------------------------------------------
case_change_network_subnet() { apply examples/bridge.yaml; capture; }
case_change_network_mtu() { apply examples/bridge.yaml; capture; }
case_change_endpoint_address() { apply examples/bridge.yaml; capture; }
case_change_endpoint_network() { apply examples/bridge.yaml; capture; }

# --- replace -------------------------------------------------------------------------------
case_replace_netns_renamed() {
  sed 's/netns: rename-db2 .*/netns: rename-db/' "$T/$CASE/topology.yaml" >/tmp/golden-applied.yaml
  apply /tmp/golden-applied.yaml
  capture
}
case_replace_bridge_renamed() { apply examples/bridge.yaml; capture; }
case_replace_endpoint_renamed() {
  # Renamed by hand (the link must be down for that); the default route is put back by hand
  # with tsnet's protocol, so it is owned and sits on the renamed interface.
  drift sh -c 'ip -n bridge-server link set eth0 down &&
    ip -n bridge-server link set eth0 name eth9 &&
    ip -n bridge-server link set eth9 up &&
    ip -n bridge-server route add default via 198.18.10.1 proto 116'
}

# --- clashes: plan errors ------------------------------------------------------------------
case_clash_foreign_bridge() { example bridge.yaml; ip link add tsn-web type bridge; capture; }
case_clash_foreign_netns() { example bridge.yaml; ip netns add bridge-server; capture; }
case_clash_other_topology() {
  example bridge.yaml
  cat >/tmp/golden-other.yaml <<'EOF'
version: 1
name: other
networks:
  web:
    driver: bridge
    subnet: 198.18.14.0/24
sandboxes:
  server:
    netns: bridge-server
    endpoints:
      - network: web
EOF
  apply /tmp/golden-other.yaml
  capture
}
case_clash_foreign_route() {
  example router.yaml
  apply "$T/$CASE/topology.yaml"
  # By hand: `ip route change` without a protocol leaves a route tsnet did not make.
  ip -n router-left route change 198.18.31.0/24 via 198.18.30.1
  TSNET_CAPTURE_SYSCTLS=net.ipv4.ip_forward capture
}
case_clash_foreign_host_veth() { example bridge.yaml; ip link add "$SERVER_VETH" type veth peer name vx; capture; }
case_clash_foreign_interface_in_owned_ns() {
  apply examples/bridge.yaml
  ip -n bridge-server link add eth1 type veth peer name eth1-peer
  capture
}

# The host's own LAN (a foreign interface) already holds the file's subnet: the gateway would
# take over the host's routing there.
case_clash_host_route() {
  example bridge.yaml
  ip link add lan0 type veth peer name lan0-peer && ip addr add 198.18.10.200/24 dev lan0 && ip link set lan0 up
  capture
}

# --- foreign objects are never in a plan ---------------------------------------------------
case_foreign_objects_ignored() {
  example bridge.yaml
  apply "$T/$CASE/topology.yaml"
  cat >/tmp/golden-other.yaml <<'EOF'
version: 1
name: other
networks:
  lan:
    driver: bridge
    subnet: 198.18.16.0/24
sandboxes:
  x:
    endpoints:
      - network: lan
EOF
  apply /tmp/golden-other.yaml
  ip link add br-foreign type bridge
  ip link add vfa type veth peer name vfb
  ip link set vfa master tsn-web up
  ip netns add scratch
  ip link set vfb netns bridge-server
  ip -n scratch link add eth0 type veth peer name eth1
  capture
}

# --- stability of allocated addresses and subnets -----------------------------------------
case_stable_sandbox_added() { apply examples/bridge.yaml; capture; }
case_stable_sandbox_removed() {
  cat >/tmp/golden-applied.yaml <<'EOF'
version: 1
name: three
networks:
  net:
    driver: bridge
    subnet: 198.18.13.0/24
sandboxes:
  a:
    endpoints:
      - network: net
  b:
    endpoints:
      - network: net
  c:
    endpoints:
      - network: net
EOF
  apply /tmp/golden-applied.yaml
  capture
}
case_stable_pool_subnet_kept() { apply examples/auto-subnet.yaml; capture; }

# --- macvlan (parent: a veth standing in for a NIC, foreign) --------------------------------
uplink() { ip link add uplink0 type veth peer name uplink0-peer && ip link set uplink0 up; }
case_create_macvlan() { example macvlan.yaml; uplink; capture; }
case_nochange_macvlan() { example macvlan.yaml; uplink; apply "$T/$CASE/topology.yaml"; capture; }

# --- NAT (tsnet's nftables table; the host's forwarding is read, never changed) --------------
nat_applied() { example nat.yaml; sysctl -q -w net.ipv4.ip_forward=1; apply "$T/$CASE/topology.yaml"; }
nat_capture() { TSNET_CAPTURE_SYSCTLS=net.ipv4.ip_forward capture; }
case_create_nat() { example nat.yaml; nat_capture; }
case_nochange_nat() { nat_applied; nft add table inet filter; nft add chain inet filter output; nat_capture; }
case_drift_nat_rule_removed() { nat_applied; nft flush chain inet tsnet-nat nat-private; nat_capture; }
case_drift_nat_rule_changed() {
  nat_applied
  nft flush chain inet tsnet-nat nat-private
  nft add rule inet tsnet-nat nat-private ip saddr 198.18.64.0/24 oifname != '"tsn-private"' accept
  nat_capture
}
case_drift_nat_table_deleted() { nat_applied; nft delete table inet tsnet-nat; nat_capture; }
case_remove_nat() {
  apply examples/nat.yaml
  sed 's/^    nat: true .*/    nat: false/' examples/nat.yaml >"$T/$CASE/topology.yaml"
  nat_capture
}

# --- firewall (issue 15): isolation, internal networks, published ports in tsnet's table -----
# Every case holds tables tsnet does not own (a user's inet filter, a Docker-like ip nat with a
# rule): they must be ignored by the plan.
fw_foreign() {
  nft add table inet filter
  nft add chain inet filter forward '{ type filter hook forward priority 0; policy accept; }'
  nft add rule inet filter forward iifname '"tsn-front"' counter accept
  nft add table ip nat
  nft add chain ip nat POSTROUTING '{ type nat hook postrouting priority srcnat; }'
  nft add rule ip nat POSTROUTING ip saddr 172.17.0.0/16 oifname '!=' '"docker0"' masquerade
}
fw_applied() { example firewall.yaml; sysctl -q -w net.ipv4.ip_forward=1; fw_foreign; apply "$T/$CASE/topology.yaml"; }
fw_capture() { TSNET_CAPTURE_SYSCTLS=net.ipv4.ip_forward,net.ipv4.conf.tsn-front.route_localnet,net.ipv4.conf.tsn-back.route_localnet capture; }
fw_handle() { nft -a list chain inet tsnet-shop "$1" | sed -n "s|.*comment \"tsnet:shop:$2\" # handle \([0-9]*\)$|\1|p" | head -1; }
case_create_firewall() { example firewall.yaml; fw_foreign; fw_capture; }
case_nochange_firewall() { fw_applied; fw_capture; }
case_drift_firewall_rule_removed() { fw_applied; nft delete rule inet tsnet-shop isolation-front handle "$(fw_handle isolation-front isolation.front.back)"; fw_capture; }
case_drift_firewall_rule_changed() {
  fw_applied
  nft delete rule inet tsnet-shop dnat-front handle "$(fw_handle dnat-front port.web.8080/tcp)"
  nft add rule inet tsnet-shop dnat-front tcp dport 8080 dnat ip to 198.18.80.3:80 comment '"tsnet:shop:port.web.8080/tcp"'
  fw_capture
}
# The web sandbox's port on tsn-front: hairpin mode turned off by hand (tsnet sets it back on).
case_drift_hairpin_off() { fw_applied; ip link set dev tsvce0cf8cb type bridge_slave hairpin off; fw_capture; }
case_drift_firewall_chain_deleted() { fw_applied; nft delete chain inet tsnet-shop hairpin-front; fw_capture; }
case_remove_firewall() {
  apply examples/firewall.yaml
  sed -e '/^isolation:/d' -e '/^allow:/,/port: 5432\/tcp/d' -e '/internal: true/d' -e '/^    ports:/,/127.0.0.1:8081/d' -e '/^checks:/,$d' examples/firewall.yaml >"$T/$CASE/topology.yaml"
  fw_foreign
  fw_capture
}
case_destroy_firewall() { example firewall.yaml; echo destroy >"$T/$CASE/mode"; fw_applied; fw_capture; }

# --- point-to-point links (examples/p2p-chain.yaml: veth pairs from sandbox to sandbox) -------
p2p_applied() { example p2p-chain.yaml; apply "$T/$CASE/topology.yaml"; }
p2p_capture() { TSNET_CAPTURE_SYSCTLS=net.ipv4.ip_forward capture; }
case_create_p2p() { example p2p-chain.yaml; capture; }
case_nochange_p2p() { p2p_applied; p2p_capture; }
case_drift_p2p_end_deleted() { p2p_applied; ip -n p2p-chain-r1 link del eth1; p2p_capture; }
case_drift_p2p_address_removed() { p2p_applied; ip -n p2p-chain-a addr flush dev eth0; p2p_capture; }
case_drift_p2p_mtu() { p2p_applied; ip -n p2p-chain-r2 link set eth0 mtu 1500; p2p_capture; }
case_destroy_p2p() { example p2p-chain.yaml; echo destroy >"$T/$CASE/mode"; apply "$T/$CASE/topology.yaml"; p2p_capture; }
case_remove_p2p_link() { apply examples/p2p-chain.yaml; p2p_capture; }
case_replace_p2p_peer() { apply examples/p2p-chain.yaml; p2p_capture; }

# --- gateway: none (a bridge that is a switch without the host) ----------------------------
case_create_switch() { example switch.yaml; capture; }
case_nochange_switch() { example switch.yaml; apply "$T/$CASE/topology.yaml"; TSNET_CAPTURE_SYSCTLS=net.ipv4.ip_forward capture; }
case_change_gateway_none() { apply examples/bridge.yaml; capture; }
case_change_gateway_back() {
  sed 's/^    mtu: 1500$/    mtu: 1500\n    gateway: none/' "$T/$CASE/topology.yaml" >/tmp/golden-applied.yaml
  apply /tmp/golden-applied.yaml
  capture
}

# --- up: false (a link taken down on purpose; examples/link-down.yaml is p2p-chain.yaml with it) --
case_create_link_down() { example link-down.yaml; capture; }
case_change_link_down() { example link-down.yaml; apply examples/p2p-chain.yaml; p2p_capture; }
case_change_link_up() { example p2p-chain.yaml; apply examples/link-down.yaml; p2p_capture; }

verify() {
  file="$T/$CASE/topology.yaml"
  if [ "$(cat "$T/$CASE/mode" 2>/dev/null)" = destroy ]; then
    # The plan of a file with the same name and nothing in it is the destroy plan.
    printf 'version: 1\nname: %s\n' "$(sed -n 's/^name: *\([^ #]*\).*/\1/p' "$file")" >/tmp/golden-empty.yaml
    node scripts/plan-roundtrip.mjs /tmp/golden-empty.yaml | sed "s/^/$CASE: /"
    ./bin/tsnet.js destroy --auto-approve "$file" >/tmp/golden-verify.txt 2>&1 || { cat /tmp/golden-verify.txt; echo "VERIFY FAIL $CASE: destroy failed"; return 0; }
    left=$(ip -d -json link show | grep -c "tsnet:" || true)
    [ "$left" = 0 ] && echo "verify ok $CASE (destroyed)" || echo "VERIFY FAIL $CASE: $left marked links left"
    return 0
  fi
  node scripts/plan-roundtrip.mjs "$file" | sed "s/^/$CASE: /"
  if ! ./bin/tsnet.js apply --auto-approve "$file" >/tmp/golden-verify.txt 2>&1; then
    if grep -q '^error' "$T/$CASE/expected.txt"; then echo "verify ok $CASE (refused)"; else cat /tmp/golden-verify.txt; echo "VERIFY FAIL $CASE: apply failed"; fi
    return 0
  fi
  if ./bin/tsnet.js plan --detailed-exitcode "$file" >/tmp/golden-verify.txt 2>&1; then echo "verify ok $CASE"; else cat /tmp/golden-verify.txt; echo "VERIFY FAIL $CASE: changes left after apply"; fi
}

ALL=$(sed -n 's/^case_\([a-z0-9_]*\)().*/\1/p' "$0" | tr _ -)

if [ "${TSNET_LAB:-}" = 1 ] && [ -n "${GOLDEN_CASE:-}" ]; then
  CASE=$GOLDEN_CASE
  mkdir -p "$T/$CASE"
  "case_$(echo "$CASE" | tr - _)"
  echo "captured $CASE"
  [ "${VERIFY:-}" = 1 ] && verify
  exit 0
fi
[ "$#" -gt 0 ] || set -- $ALL
for c in "$@"; do
  echo "$ALL" | grep -qx "$c" || { echo "unknown case $c; known: $ALL" >&2; exit 2; }
  GOLDEN_CASE=$c scripts/lab "$0"
done
