#!/usr/bin/env bash
# Creates a Python virtual environment at $1 with the example's two
# packages (grpcio, grpcio-tools) and prints its interpreter's path.
# Used by .ci/run and, when needed, by the integration test.
set -euo pipefail
venv="${1:?usage: setup-venv.sh DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c 'import grpc, grpc_tools' 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$here/requirements.txt" >&2
fi
echo "$(cd "$venv" && pwd)/bin/python"
