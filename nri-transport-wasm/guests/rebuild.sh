#!/bin/sh
# Rebuilds the committed test modules from their WAT sources (the `wat`
# crate does the work, through the test that checks they agree).
set -eu
cd "$(dirname "$0")/.."
NRI_WASM_REBUILD=1 cargo test -p nri-transport-wasm --test transport --test relay -- is_built_from_its_source
