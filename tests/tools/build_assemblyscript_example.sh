#!/bin/sh
# Builds the AssemblyScript proxy-wasm SDK's example filter (`add_header`: adds `hello: <plugin
# configuration>` to responses, `hello: world!` without one) for the third-party conformance
# suite (tests/tests/all/third_party.rs), from the npm registry, into target/third-party/.
#
# The source is the SDK's own "Hello, World" example, taken unchanged from the README of the
# package (@solo-io/proxy-runtime 0.1.8); it is never copied into the repository. The SDK
# declares assemblyscript ^0.14.9 (0.28 cannot compile it), hence the pin.
#
# Usage: build_assemblyscript_example.sh [OUT_DIR]   (default: target/third-party)
# Prints the path of the built module. Needs node and npm; about 5 s with a warm npm cache.
set -eu

command -v npm >/dev/null || { echo "needs node and npm (Debian: apt-get install -y nodejs npm)" >&2; exit 1; }

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-"$root/target/third-party"}
work="$out/assemblyscript"
mkdir -p "$work/assembly"
cd "$work"
[ -f package.json ] || echo '{"private": true}' > package.json
npm install --silent --no-audit --no-fund --no-save \
    @solo-io/proxy-runtime@0.1.8 assemblyscript@0.14.13 >/dev/null
readme=node_modules/@solo-io/proxy-runtime/README.md
# The first ```ts block of the README is the example.
awk '/^```ts/ { on = 1; next } /^```/ { if (on) exit } on' "$readme" > assembly/index.ts
grep -q 'registerRootContext' assembly/index.ts || { echo "no example found in $readme" >&2; exit 1; }
./node_modules/.bin/asc assembly/index.ts -b "$out/add_header.wasm" --use abort=abort_proc_exit --optimize \
    >build.log 2>&1 || { cat build.log >&2; exit 1; }
echo "$out/add_header.wasm"
