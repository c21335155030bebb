#!/usr/bin/env bash
# Installs the Debian packages servesim needs, only those that are missing. Arguments name more
# packages a caller needs beside them (scripts/fuzz.sh: clang and its runtimes).
set -euo pipefail
pkgs=(build-essential cmake pkg-config git
      libsystemc-dev libyaml-cpp-dev libhdf5-dev hdf5-tools libboost-graph-dev
      libsimdjson-dev libcli11-dev zlib1g-dev libfmt-dev libspdlog-dev
      libdeflate-dev  # compresses the results' HDF5 chunks, faster than zlib at the same level
      libzstd-dev libsnappy-dev  # Parquet kernel tables (aiconfigurator's performance database)
      libcpp-httplib-dev cppzmq-dev libzmq3-dev libmsgpack-cxx-dev  # servesim live
      pybind11-dev python3-dev  # the Python API (import servesim)
      libgtest-dev libgmock-dev libbenchmark-dev
      libopenmpi-dev openmpi-bin   # MPI: optional for the build (sweeps across ranks), installed so it is tested
      python3-h5py python3-pandas python3-matplotlib  # tools/: the analysis and report tools
      curl prometheus python3-zmq python3-msgpack python3-httpx  # live tests: real clients, scraper, subscriber
      "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the OpenAI Node SDK in the live tests: Debian's, unless a node is already here
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "servesim: installing missing packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
