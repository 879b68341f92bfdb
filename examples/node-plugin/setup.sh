#!/usr/bin/env bash
# Installs the example's two npm packages (@grpc/grpc-js, @grpc/proto-loader,
# at the versions package-lock.json pins) into DIR/node_modules and prints
# that directory, for NODE_PATH. Used by .ci/run and, when needed, by the
# integration test.
set -euo pipefail
dir="${1:?usage: setup.sh DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$dir"
if [ ! -f "$dir/node_modules/@grpc/grpc-js/package.json" ] \
    || ! cmp -s "$here/package-lock.json" "$dir/package-lock.json"; then
    cp "$here/package.json" "$here/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
echo "$(cd "$dir" && pwd)/node_modules"
