#!/usr/bin/env bash
# Install everything fitmesh needs to run and test on a Debian machine, idempotently:
# uv and the locked Python environment, PostgreSQL, Redis and Chromium (Debian packages),
# FerretDB (a MongoDB wire-protocol server, built from the Go module proxy), buf and grpcurl.
# `setup.sh bench` also installs the load tools of `make bench`: oha (crates.io), ghz and
# the grpc-gateway peer with its code generators (Go module proxy).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${FITMESH_TOOLS:-$HOME/.cache/fitmesh}
BIN=$TOOLS/bin
FERRETDB_VERSION=v1.24.2
BUF_VERSION=v1.75.0
GRPCURL_VERSION=v1.9.4
KUSTOMIZE_VERSION=v5.7.1
UV_VERSION=0.13.9
OHA_VERSION=1.16.0
GHZ_VERSION=v0.120.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
GRPC_GATEWAY_VERSION=v2.32.0
mkdir -p "$BIN"

say() { printf 'setup: %s\n' "$*" >&2; }
need() {  # need <what> <how to get it>
  say "missing $1 and cannot install it here: $2"
  exit 1
}

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    need "$*" "run 'sudo apt-get install $*' (Debian/Ubuntu), or set TEST_DATABASE_URL / TEST_REDIS_URL"
  fi
  say "installing $* from Debian packages"
  if [ -z "$(find /var/lib/apt/lists -name '*Packages*' -print -quit 2>/dev/null)" ]; then
    apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Python: uv and the locked environment.
if ! command -v uv >/dev/null 2>&1; then
  say "installing uv $UV_VERSION"
  python3.11 -m pip install -q "uv==$UV_VERSION" || need uv "pip install uv==$UV_VERSION"
fi
(cd "$ROOT" && uv sync --frozen --python python3.11 -q)

# Servers the tests and the local suite run against.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  apt_install postgresql
fi
if ! command -v redis-server >/dev/null 2>&1; then
  apt_install redis-server
fi
# The web page's browser test drives Debian's Chromium (Playwright never downloads one
# here); the README's tour uses curl and jq.
for tool in chromium curl jq; do
  command -v "$tool" >/dev/null 2>&1 || apt_install "$tool"
done

# Go tools come from the Go module proxy.
command -v go >/dev/null 2>&1 || need go "install Go 1.22 or newer (https://go.dev/dl/)"
if [ ! -x "$BIN/ferretdb-$FERRETDB_VERSION" ]; then
  say "building FerretDB $FERRETDB_VERSION (a few minutes, once)"
  src=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  work=$(mktemp -d)
  cp -r "$src/." "$work"
  chmod -R u+w "$work"
  # FerretDB reads its version from a file its own build tooling normally writes.
  echo "$FERRETDB_VERSION" >"$work/build/version/version.txt"
  (cd "$work" && go build -o "$BIN/ferretdb-$FERRETDB_VERSION" ./cmd/ferretdb)
  rm -rf "$work"
fi
ln -sf "ferretdb-$FERRETDB_VERSION" "$BIN/ferretdb"

go_tool() {  # go_tool <name> <module path> <version>
  if [ ! -x "$BIN/$1-$3" ]; then
    say "installing $1 $3"
    tmp=$(mktemp -d)
    GOBIN=$tmp go install "$2@$3"
    mv "$tmp/$1" "$BIN/$1-$3"
    rm -rf "$tmp"
  fi
  ln -sf "$1-$3" "$BIN/$1"
}
go_tool buf github.com/bufbuild/buf/cmd/buf "$BUF_VERSION"
go_tool grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"

if [ "${1:-}" = bench ]; then
  go_tool ghz github.com/bojand/ghz/cmd/ghz "$GHZ_VERSION"
  go_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
  go_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc \
    "$PROTOC_GEN_GO_GRPC_VERSION"
  go_tool protoc-gen-grpc-gateway \
    github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway "$GRPC_GATEWAY_VERSION"
  if [ ! -x "$BIN/oha-$OHA_VERSION" ]; then
    command -v cargo >/dev/null 2>&1 || need cargo "install Rust (https://rustup.rs)"
    say "building oha $OHA_VERSION (a few minutes, once)"
    tmp=$(mktemp -d)
    cargo install --quiet --locked --root "$tmp" oha --version "$OHA_VERSION"
    mv "$tmp/bin/oha" "$BIN/oha-$OHA_VERSION"
    rm -rf "$tmp"
  fi
  ln -sf "oha-$OHA_VERSION" "$BIN/oha"
  # The peer: grpc-gateway generated from fitmesh's own protos, rebuilt when they change.
  (cd "$ROOT/bench/peer" && rm -rf gen && PATH="$BIN:$PATH" "$BIN/buf" generate &&
    go build -o "$BIN/fitmesh-grpc-gateway" .)
fi
say "ready (tools in $BIN)"
