#!/bin/sh
# bench/setup.sh: what `npm run bench` needs besides tsnet, installed outside the lab (the lab has
# no network): Debian's CNI plugins for the CNI baseline. Without them (not root, no apt) the
# benchmark still runs and reports the CNI column as not measured.
set -u
if [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/loopback ] && [ -x /usr/lib/cni/host-local ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "bench/setup.sh: installing containernetworking-plugins for the CNI baseline" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || true
  apt-get install -y -qq containernetworking-plugins || echo "bench/setup.sh: could not install containernetworking-plugins; the CNI baseline will be skipped" >&2
else
  echo "bench/setup.sh: containernetworking-plugins missing (install it as root); the CNI baseline will be skipped" >&2
fi
exit 0
