#!/bin/sh
# Builds the Go test plugin (guests/go-adjuster) the way upstream builds its
# WASM sample: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared. The
# module is not committed (megabytes); tests/go_module.rs builds it itself.
# Usage: rebuild-go.sh OUTPUT.wasm   (GO=/path/to/go to pick a toolchain)
set -eu
out=$(realpath -m "${1:?usage: rebuild-go.sh OUTPUT.wasm}")
cd "$(dirname "$0")/go-adjuster"
GOOS=wasip1 GOARCH=wasm GOFLAGS=-mod=mod "${GO:-go}" build -buildmode=c-shared -o "$out" .
