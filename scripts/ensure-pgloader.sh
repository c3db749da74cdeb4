#!/usr/bin/env bash
# Makes sure pgloader exists for the benchmark (benchmarks/run.py), which times a plain
# SQLite-to-PostgreSQL migration as the "just copying" reference. Installs Debian's pgloader when missing.
set -euo pipefail
if command -v pgloader >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing pgloader (apt-get install pgloader)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgloader >/dev/null
else
  echo "pgloader not found: install the 'pgloader' package" >&2
  exit 1
fi
