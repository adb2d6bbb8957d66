#!/usr/bin/env bash
# Builds the real judges (etcd, kube-apiserver, kube-controller-manager) from the Go module
# proxy, at the versions pinned by tools/realcluster/go.mod and go.sum, into a cache directory
# outside the checkout, and prints that directory on its last line of stdout.
#
# The directory is keyed by the pinned versions, a hash of go.mod + go.sum, the build flags, the
# Go version and the platform: a second run with nothing changed finds the three binaries there
# and returns at once (no Go command is run); any change to the pins builds a new directory.
# Concurrent runs (two test sessions) are serialised by a lock, and a build lands under its key
# only when all three binaries are complete (built into a temporary directory, then renamed).
#
# With --check nothing is built: it prints the directory and exits 0 when the binaries are
# there, and exits 3 when they are not (the test fixture asks this way, so a test run never
# starts a build of many minutes under a per-test time limit).
#
# Environment:
#   GO                          the go command (default: go on PATH, else /usr/local/go/bin/go)
#   CONTROLROOM_REALCLUSTER_CACHE  the cache root (default ${XDG_CACHE_HOME:-~/.cache}/controlroom/realcluster)
#   GOTOOLCHAIN                 passed through (go.mod asks for Go 1.26, which the machine has)
#
# Exit status: 0 with the directory printed; 2 when no Go command is found; 3 with --check
# when not built; the go command's status when the build fails.
set -euo pipefail

# The whole script is one function, read by bash before it runs: editing this file while a
# build of many minutes runs cannot change what that run does next.
main() {
  here="$(cd "$(dirname "$0")/.." && pwd)"
  module="$here/tools/realcluster"

  go_cmd="${GO:-}"
  if [ -z "$go_cmd" ]; then
    go_cmd="$(command -v go || true)"
    [ -z "$go_cmd" ] && [ -x /usr/local/go/bin/go ] && go_cmd=/usr/local/go/bin/go
  fi
  if [ -z "$go_cmd" ]; then
    echo "build-realcluster: no go command (set GO or put go on PATH)" >&2
    exit 2
  fi

  # The versions, read from go.mod (the one place they are pinned), name the directory for people;
  # the hash makes it exact.
  k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$module/go.mod")"
  etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ {print $2; exit}' "$module/go.mod")"
  go_version="$(cd "$module" && "$go_cmd" env GOVERSION GOOS GOARCH | tr '\n' ' ')"

  # Version strings the binaries report (/version, kubectl's skew warning), as upstream's release
  # build stamps them; a build without them calls itself v0.0.0-master.
  minor="${k8s_version#v1.}"
  minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
  done

  # -mod=readonly: go.mod and go.sum are the pins; a build never edits them. CGO off, as
  # upstream builds its server binaries: static, and no C compiler needed. These replace any
  # CGO_ENABLED or GOFLAGS of the caller's, so that the key says how the binaries were built.
  export CGO_ENABLED=0 GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
  digest="$( { cat "$module/go.mod" "$module/go.sum"
               echo "$go_version|$ldflags|$CGO_ENABLED|$GOFLAGS"; } \
    | sha256sum | cut -c1-16)"
  key="k8s-${k8s_version}-etcd-${etcd_version}-${digest}"

  cache_root="${CONTROLROOM_REALCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/controlroom/realcluster}"
  out="$cache_root/$key"
  binaries=(etcd kube-apiserver kube-controller-manager)

  complete() {
    [ -f "$out/.complete" ] || return 1
    local b
    for b in "${binaries[@]}"; do [ -x "$out/$b" ] || return 1; done
  }

  if complete; then
    echo "$out"
    exit 0
  fi
  if [ "${1:-}" = "--check" ]; then
    echo "build-realcluster: $out is not built yet (make realcluster builds it)" >&2
    exit 3
  fi

  mkdir -p "$cache_root"
  exec 9>"$cache_root/.build.lock"
  flock 9
  if complete; then  # another run built it while this one waited for the lock
    echo "$out"
    exit 0
  fi

  echo "build-realcluster: building $key (one time; several minutes on 2 cores)" >&2
  tmp="$(mktemp -d "$cache_root/.building.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT

  cd "$module"
  "$go_cmd" build -ldflags "$ldflags" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
  "$go_cmd" build -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  "$go_cmd" build -ldflags "$ldflags" -o "$tmp/kube-controller-manager" \
    k8s.io/kubernetes/cmd/kube-controller-manager
  printf 'k8s.io/kubernetes %s\ngo.etcd.io/etcd/server/v3 %s\n%s\n' \
    "$k8s_version" "$etcd_version" "$go_version" >"$tmp/VERSIONS"
  touch "$tmp/.complete"
  rm -rf "$out"
  mv "$tmp" "$out"
  trap - EXIT
  echo "$out"
}

main "$@"
