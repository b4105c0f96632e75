#!/bin/sh
# Installs the Debian packages pepsal's build, tests and lab need, but only when something is
# missing, so `make check` works on a fresh Debian 12 machine and costs nothing on a ready one.
set -e
need=""
have_header() { [ -e "/usr/include/$1" ]; }
have_tool() { command -v "$1" >/dev/null 2>&1; }
have_header libnetfilter_queue/libnetfilter_queue.h || need="$need libnetfilter-queue-dev"
have_header boost/interprocess/shared_memory_object.hpp || need="$need libboost-dev"
have_header boost/program_options.hpp || need="$need libboost-program-options-dev"
have_header catch2/catch.hpp || need="$need catch2"
have_header sodium.h || need="$need libsodium-dev"
have_tool g++ || need="$need g++"
have_tool make || need="$need make"
have_tool clang++ || need="$need clang"
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need="$need libclang-rt-14-dev"
have_tool ip || need="$need iproute2"
have_tool ping || need="$need iputils-ping"
have_tool iptables || need="$need iptables"
have_tool ethtool || need="$need ethtool"
have_tool curl || need="$need curl"
have_tool iperf3 || need="$need iperf3"
have_tool nginx || need="$need nginx"
have_tool gnuplot || need="$need gnuplot-nox"
have_tool sha256sum || need="$need coreutils"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages:$need (run as root, or: apt-get install$need)" >&2
    exit 1
fi
echo "deps: installing$need"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need >/dev/null
