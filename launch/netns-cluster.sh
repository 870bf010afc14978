#!/usr/bin/env bash
# Several hosts on this machine: launch/netns-cluster.sh N [--slots K] [--tc QDISC] [mpirun options...] -- COMMAND...
#   launch/netns-cluster.sh 2 -- .build/release/mbc-train env
#   launch/netns-cluster.sh 3 --slots 2 -- .build/release/mbc-train train --config configs/quick.yaml
#   launch/netns-cluster.sh 2 --tc 'tbf rate 1gbit burst 1mb latency 100ms' -- .build/release/mbc-bench ddp
# Builds N test hosts, runs COMMAND under `mpirun --hostfile` with K ranks (default 1) on each,
# then removes the hosts again, also when COMMAND fails or the script is interrupted.
#
# Each host is a network namespace with its own hostname (mbc-host1 ... mbc-hostN: a UTS
# namespace per process tree started there) and one veth link, address 10.213.0.K/24, to a bridge
# that lives in a namespace of its own: the subnet exists only inside these namespaces, and the
# machine's own network is not touched. Open MPI talks TCP between the ranks (btl tcp,self: no
# shared memory, even between ranks of one host) and starts the daemons of hosts 2..N through its
# rsh launcher, whose agent here is a small script that enters the host's namespaces (no sshd).
# mpirun runs on host 1. The hosts share this machine's file system, so paths stay valid.
# --tc QDISC shapes every link: `tc qdisc add dev D root QDISC` on both of its ends (eth0 in the
# host and its port on the bridge), so traffic each way passes it; e.g. tbf for a link rate.
# Needs root, iproute2 (`ip netns`) and util-linux's unshare. While COMMAND runs, the environment
# variable MBC_NETNS_PREFIX names the namespaces (PREFIX-host1 ... PREFIX-hostN, PREFIX-bridge),
# so a test can, say, cut a host's link: ip -n PREFIX-host2 link set eth0 down.
# Exit status: COMMAND's (mpirun's); 2 for bad usage; 130 when interrupted.
set -euo pipefail
me=launch/netns-cluster.sh
usage() { echo "usage: $me N [--slots K] [--tc QDISC] [mpirun options...] -- COMMAND... (N hosts, K ranks on each)" >&2; exit 2; }
fail() { echo "$me: $*" >&2; exit 2; }

[ $# -ge 1 ] || usage
hosts=$1; shift
case "$hosts" in ''|*[!0-9]*) fail "the number of hosts must be a whole number from 1 to 200, not '$hosts'" ;; esac
[ "$hosts" -ge 1 ] && [ "$hosts" -le 200 ] || fail "the number of hosts must be a whole number from 1 to 200, not '$hosts'"
slots=1
qdisc=""
mpi_args=()
np=""
# The hosts share this machine's cores, and each would bind its first rank to core 0: no binding.
bind=none
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case "$1" in
        --slots) [ $# -ge 2 ] || usage; slots=$2; shift 2
                 case "$slots" in ''|0|*[!0-9]*) fail "--slots takes a number of ranks per host, not '$slots'" ;; esac ;;
        --tc) [ $# -ge 2 ] || usage; qdisc=$2; shift 2
              [ -n "$qdisc" ] || fail "--tc takes a qdisc and its parameters, e.g. 'tbf rate 1gbit burst 1mb latency 100ms'" ;;
        -np|-n) [ $# -ge 2 ] || usage; np=$2; shift 2 ;;
        --bind-to|-bind-to) [ $# -ge 2 ] || usage; bind=$2; shift 2 ;;
        *) mpi_args+=("$1"); shift ;;
    esac
done
[ $# -ge 2 ] && [ "$1" = "--" ] || usage
shift
[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces); run it as root"
command -v ip >/dev/null && ip netns list >/dev/null 2>&1 || fail "needs iproute2's 'ip netns' (apt-get install iproute2)"
command -v unshare >/dev/null || fail "needs unshare (util-linux)"
mpirun=$(command -v mpirun) || fail "needs mpirun (apt-get install openmpi-bin)"
[ -z "$qdisc" ] || command -v tc >/dev/null || fail "--tc needs iproute2's tc"
[ -n "$np" ] || np=$((hosts * slots))

# Names unique to this run, so clusters started at the same time do not meet.
prefix=mbc$$
subnet=10.213.0
bridge_ns=$prefix-bridge
work=$(mktemp -d /tmp/mbc-netns.XXXXXX)
mpirun_pid=""
interrupted=""

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$mpirun_pid" ] && kill -0 "$mpirun_pid" 2>/dev/null; then
        kill -TERM "$mpirun_pid" 2>/dev/null || true
    fi
    # Whatever still runs in a host (a daemon, a rank, mpirun) ends with it: TERM, then KILL.
    local k ns pids
    for signal in TERM KILL; do
        pids=""
        for k in $(seq 1 "$hosts"); do
            ns=$prefix-host$k
            [ -e "/run/netns/$ns" ] && pids="$pids $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
        done
        pids=$(echo $pids)
        [ -z "$pids" ] && break
        # shellcheck disable=SC2086
        kill -"$signal" $pids 2>/dev/null || true
        [ "$signal" = TERM ] && for _ in 1 2 3 4 5 6 7 8 9 10; do
            sleep 0.2
            # shellcheck disable=SC2086
            kill -0 $pids 2>/dev/null || break
        done
    done
    for k in $(seq 1 "$hosts"); do ip netns del "$prefix-host$k" 2>/dev/null || true; done
    ip netns del "$bridge_ns" 2>/dev/null || true   # takes the bridge and the veth ends with it
    rm -rf "$work"
    [ -n "$interrupted" ] && status=130
    exit "$status"
}
trap cleanup EXIT
trap 'interrupted=1; exit 130' INT TERM

# The network: a bridge in its own namespace, one veth pair per host (eth0 in the host).
ip netns add "$bridge_ns"
ip -n "$bridge_ns" link set lo up
ip -n "$bridge_ns" link add br0 type bridge
ip -n "$bridge_ns" link set br0 up
for k in $(seq 1 "$hosts"); do
    ns=$prefix-host$k
    ip netns add "$ns"
    ip -n "$bridge_ns" link add "port$k" type veth peer name eth0 netns "$ns"
    ip -n "$bridge_ns" link set "port$k" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$subnet.$k/24" dev eth0
    ip -n "$ns" link set eth0 up
    if [ -n "$qdisc" ]; then
        # shellcheck disable=SC2086
        ip netns exec "$ns" tc qdisc add dev eth0 root $qdisc || fail "tc refused the qdisc '$qdisc' (above)"
        # shellcheck disable=SC2086
        ip netns exec "$bridge_ns" tc qdisc add dev "port$k" root $qdisc || fail "tc refused the qdisc '$qdisc' (above)"
    fi
    echo "mbc-host$k slots=$slots" >>"$work/hostfile"
done

# The rsh agent: `agent HOST COMMAND...` runs COMMAND (a shell command line, as ssh would) on HOST,
# named as in the hostfile or by its address, inside that host's network and UTS namespaces.
cat >"$work/agent" <<EOF
#!/bin/sh
# Written by $me for one cluster: enters host HOST's namespaces in place of ssh.
[ \$# -ge 2 ] || { echo "netns agent: usage: agent HOST COMMAND..." >&2; exit 2; }
host=\$1; shift
case "\$host" in
    mbc-host*) k=\${host#mbc-host} ;;
    $subnet.*) k=\${host#$subnet.} ;;
    *) echo "netns agent: unknown host '\$host' (this cluster has mbc-host1 to mbc-host$hosts)" >&2; exit 255 ;;
esac
[ -e "/run/netns/$prefix-host\$k" ] || { echo "netns agent: no host '\$host' in this cluster" >&2; exit 255; }
exec ip netns exec "$prefix-host\$k" unshare --uts sh -c 'hostname "\$0" && exec sh -c "\$1"' "mbc-host\$k" "\$*"
EOF
chmod +x "$work/agent"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MBC_NETNS_PREFIX=$prefix
# A host that drops off (link down, machine gone) is noticed by TCP keepalive on the daemons'
# connections within about 3 + 3 x 1 s of their last message, and mpirun then ends the job (the
# MPI transport itself waits forever). Defaults only: the environment or --mca overrides them.
export OMPI_MCA_oob_tcp_keepalive_time=${OMPI_MCA_oob_tcp_keepalive_time:-3}
export OMPI_MCA_oob_tcp_keepalive_intvl=${OMPI_MCA_oob_tcp_keepalive_intvl:-1}
export OMPI_MCA_oob_tcp_keepalive_probes=${OMPI_MCA_oob_tcp_keepalive_probes:-3}
echo "$me: $hosts host(s) (mbc-host1..mbc-host$hosts at $subnet.1..$subnet.$hosts, namespaces $prefix-host*), $np ranks${qdisc:+, links: $qdisc}" >&2
# mpirun on host 1, in that host's namespaces like everything else there.
ip netns exec "$prefix-host1" unshare --uts sh -c 'hostname mbc-host1 && exec "$@"' sh \
    "$mpirun" -np "$np" --bind-to "$bind" --hostfile "$work/hostfile" \
    --mca plm_rsh_agent "$work/agent" --mca plm_rsh_no_tree_spawn 1 \
    --mca btl tcp,self --mca btl_tcp_if_include "$subnet.0/24" --mca oob_tcp_if_include "$subnet.0/24" \
    "${mpi_args[@]}" "$@" &
mpirun_pid=$!
status=0
wait "$mpirun_pid" || status=$?
mpirun_pid=""
exit "$status"
