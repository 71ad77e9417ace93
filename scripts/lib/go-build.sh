#!/usr/bin/env bash
# Shared by the scripts that build upstream Go programs from the module proxy (test/cluster/build.sh,
# test/e2e/build.sh). Sourced, not run.
#
# Why "align": every program here (kwok, helm, etcd, crictl, containerd, CoreDNS,
# local-path-provisioner) depends on some of the modules Kubernetes does — client-go, api,
# apimachinery, grpc, protobuf, prometheus — each at its own older version. Go's build cache shares a
# compiled package only when its source and every dependency match, so each program compiled its own
# copy of those trees: the largest part of a cold build. `go_align` raises the shared modules to the
# versions Kubernetes itself is built with (never lowers one), so those packages come from the cache
# the Kubernetes build filled. Measured here: local-path-provisioner 166 s → 19 s after the
# Kubernetes build (test/e2e/README.md, "Figures").

# go_wrapper DIR: a fresh throwaway module to build a dependency's main package from.
go_wrapper() {
  rm -rf "$1"
  mkdir -p "$1"
  (cd "$1" && go mod init celula.local/build >/dev/null 2>&1)
}

# go_k8s_module K8S_VERSION STAGING_VERSION: in the current wrapper module, require k8s.io/kubernetes
# and point its ./staging replacements at the published staging modules.
go_k8s_module() {
  local modfile m
  modfile="$(go mod download -json "k8s.io/kubernetes@$1" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  go mod edit -require="k8s.io/kubernetes@$1"
  grep -oE '^\s+k8s\.io/[a-z0-9-]+ => \./staging' "$modfile" | awk '{print $1}' | while read -r m; do
    go mod edit -replace="$m=$m@$2"
  done
}

# go_modules_file DIR OUT: "path version" of every module DIR's build list holds (replacements
# resolved), for go_align.
go_modules_file() {
  (cd "$1" && go list -m -f '{{if not .Main}}{{.Path}} {{with .Replace}}{{.Version}}{{else}}{{.Version}}{{end}}{{end}}' all) \
    | awk 'NF == 2' >"$2.tmp"
  mv "$2.tmp" "$2"
}

# go_align MODULES_FILE PKG@VERSION...: in the current wrapper module (after `go get` of the
# packages), require every module that both this build list and MODULES_FILE hold at MODULES_FILE's
# version. Requirements are minimums, so a module this program needs newer keeps its own version.
# Then `go get` the packages again to settle go.sum.
go_align() {
  local ref="$1" path version reqs=()
  shift
  while read -r path version; do
    [[ "$path" == k8s.io/kubernetes ]] && continue # its ./staging replacements stay with it
    reqs+=("-require=$path@$version")
  done < <(LC_ALL=C join <(LC_ALL=C sort "$ref") <(go list -m -f '{{if not .Main}}{{.Path}}{{end}}' all | LC_ALL=C sort))
  ((${#reqs[@]} == 0)) || go mod edit "${reqs[@]}"
  go get "$@"
  printf 'go_align: %d modules raised to at least the Kubernetes build'"'"'s versions\n' "${#reqs[@]}"
}
