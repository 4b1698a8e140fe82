#!/usr/bin/env bash
# A tour of the mock platform with the MinIO sample, on a fresh state directory.
# Every step is a separate `dpp` invocation on the same state directory, as a person would run it.
set -euo pipefail
cd "$(dirname "$0")/.."

export DPP_STATE_DIR="${DPP_STATE_DIR:-$(mktemp -d)/state}"
step() { printf '\n\033[1m$ dpp %s\033[0m\n' "$*"; dpp "$@"; }

echo "state directory: $DPP_STATE_DIR"
step platform status
step service register samples/minio
step service list
step instance create --service minio --name store-1 --capacity-gb 1200 \
    --param servers=4 --param drivesPerServer=4 --param parity=2
step instance list
step health store-1

host=$(dpp instance show store-1 -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["members"][0]["host"])')
step fault inject host-failure "$host"
step clock show
step health store-1
step fault clear host-failure "$host"
step health store-1

step host maintenance enter esx-02 --mode ensure-accessibility --precheck
step instance set store-1 --capacity-gb 2400
step instance list
step instance remove store-1 --yes
step resource list
step audit --limit 8
echo
echo "tour complete: the instance is gone and resource list shows nothing reserved."
