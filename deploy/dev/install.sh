#!/usr/bin/env bash
# Installs everything the tests and the local demo need, skipping what is
# already there, so it is cheap to run on every CI run and idempotent on a
# fresh machine:
#   - Debian packages for building librdkafka (rdkafka-sys) and for browser tests
#   - tansu, the Kafka-protocol broker the tests and demo run on loopback
#   - chdb-core, the in-process ClickHouse engine behind deploy/dev/clickhouse_server.py
set -euo pipefail

log() { printf '[install] %s\n' "$*" >&2; }

need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
[ -e /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
[ -e /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)
[ -e /usr/include/sasl/sasl.h ] || need_apt+=(libsasl2-dev)
[ -e /usr/include/zstd.h ] || need_apt+=(libzstd-dev)
if [ "${LUNETTES_SKIP_BROWSER:-0}" != 1 ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

TANSU_VERSION=0.6.0
if ! command -v tansu >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tansu" ]; then
  log "building tansu $TANSU_VERSION (Kafka-protocol broker for tests; ~10 min once, then cached in ~/.cargo/bin)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql
fi

if [ "${LUNETTES_SKIP_CLICKHOUSE:-0}" != 1 ]; then
  if ! python3 -c 'import chdb' >/dev/null 2>&1; then
    log "pip install chdb-core (ClickHouse engine, ~180 MB)"
    python3 -m pip install --quiet --disable-pip-version-check chdb-core
  fi
fi
# helm-python-sdk embeds Helm's own Go SDK: the chart tests render and lint
# deploy/helm/lunettes with it (no helm binary can be installed here).
if ! python3 -c 'import helm_python_sdk' >/dev/null 2>&1 && ! python3 -m pip show helm-python-sdk >/dev/null 2>&1; then
  log "pip install helm-python-sdk (Helm renderer for the chart tests)"
  python3 -m pip install --quiet --disable-pip-version-check helm-python-sdk==0.2.2
fi
log "ok"
