#!/usr/bin/env bash
# Builds k9s (the benchmark's side-by-side judge, bench/bench_k9s.py) from the Go module proxy, at
# the version pinned by tools/k9s/go.mod and go.sum, into a cache directory outside the checkout,
# and prints the binary's path on its last line of stdout.
#
# Same shape as scripts/build-realcluster.sh: the directory is keyed by the pinned version, a
# hash of go.mod + go.sum, the build flags, the Go version and the platform; a second run finds
# the binary and returns at once; concurrent runs are serialised by a lock; a build lands under
# its key only when complete (built into a temporary directory, then renamed).
#
# --check builds nothing: prints the path and exits 0 when built, exits 3 when not.
#
# Environment:
#   GO                      the go command (default: go on PATH, else /usr/local/go/bin/go)
#   CONTROLROOM_K9S_CACHE   the cache root (default ${XDG_CACHE_HOME:-~/.cache}/controlroom/k9s)
#   K9S_BUILD_PARALLEL      go build -p (default 1: the cold build takes minutes on 2 cores and
#                           leaves the other core to whoever else works on the machine)
#
# Exit status: 0 with the path printed; 2 when no Go command is found; 3 with --check when not
# built; the go command's status when the build fails.
set -euo pipefail

main() {
  here="$(cd "$(dirname "$0")/.." && pwd)"
  module="$here/tools/k9s"

  go_cmd="${GO:-}"
  if [ -z "$go_cmd" ]; then
    go_cmd="$(command -v go || true)"
    [ -z "$go_cmd" ] && [ -x /usr/local/go/bin/go ] && go_cmd=/usr/local/go/bin/go
  fi
  if [ -z "$go_cmd" ]; then
    echo "build-k9s: no go command (set GO or put go on PATH)" >&2
    exit 2
  fi

  version="$(awk '$1 == "github.com/derailed/k9s" && $2 ~ /^v/ {print $2; exit}' "$module/go.mod")"
  go_version="$(cd "$module" && "$go_cmd" env GOVERSION GOOS GOARCH | tr '\n' ' ')"
  # k9s stamps its version into cmd's variables (its release build does the same).
  ldflags="-s -w -X github.com/derailed/k9s/cmd.version=$version"
  ldflags+=" -X github.com/derailed/k9s/cmd.commit=proxy -X github.com/derailed/k9s/cmd.date=proxy"

  export CGO_ENABLED=0 GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
  digest="$( { cat "$module/go.mod" "$module/go.sum"
               echo "$go_version|$ldflags|$CGO_ENABLED|$GOFLAGS"; } \
    | sha256sum | cut -c1-16)"
  key="k9s-${version}-${digest}"

  cache_root="${CONTROLROOM_K9S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/controlroom/k9s}"
  out="$cache_root/$key"

  complete() { [ -f "$out/.complete" ] && [ -x "$out/k9s" ]; }

  if complete; then
    echo "$out/k9s"
    exit 0
  fi
  if [ "${1:-}" = "--check" ]; then
    echo "build-k9s: $out is not built yet (make k9s builds it)" >&2
    exit 3
  fi

  mkdir -p "$cache_root"
  exec 9>"$cache_root/.build.lock"
  flock 9
  if complete; then
    echo "$out/k9s"
    exit 0
  fi

  echo "build-k9s: building $key (one time; many minutes on 2 cores)" >&2
  tmp="$(mktemp -d "$cache_root/.building.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT

  cd "$module"
  "$go_cmd" build -p "${K9S_BUILD_PARALLEL:-1}" -ldflags "$ldflags" -o "$tmp/k9s" \
    github.com/derailed/k9s
  printf 'github.com/derailed/k9s %s\n%s\n' "$version" "$go_version" >"$tmp/VERSIONS"
  touch "$tmp/.complete"
  rm -rf "$out"
  mv "$tmp" "$out"
  trap - EXIT
  echo "$out/k9s"
}

main "$@"
