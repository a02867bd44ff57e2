#!/usr/bin/env bash
# hack/envtest.sh: provide kube-apiserver + etcd test binaries (envtest / KUBEBUILDER_ASSETS layout).
#
# Prints the absolute path of a directory holding executable `kube-apiserver` and `etcd` as the LAST
# line of stdout; all progress goes to stderr. Typical use:
#     export KUBEBUILDER_ASSETS="$(bash hack/envtest.sh | tail -n1)"
#
# Lookup order:
#   a. $KUBEBUILDER_ASSETS, if it holds executable kube-apiserver and etcd;
#   b. the version-keyed cache dir (reused if both binaries answer --version);
#   c. build both from the Go module proxy into that cache dir (temp dir + atomic rename).
#
# Environment (all optional):
#   K8S_VERSION   kube-apiserver version (k8s.io/kubernetes module version), default below
#   ETCD_VERSION  etcd version (go.etcd.io/etcd/server/v3 module version), default below
#   ENVTEST_CACHE cache root, default ${XDG_CACHE_HOME:-$HOME/.cache}/mcm-envtest
#   ENVTEST_GO_PARALLELISM  go build -p value, default 2 (2 cores / 24 GB machines)
#   ENVTEST_VERBOSE=1       stream go's download/build output (default: kept in a log, tail shown on failure)
#   GOMODCACHE, GOCACHE, GOPROXY, GOSUMDB  honoured as usual (Go defaults otherwise)
#
# Only the Go module proxy (and the checksum DB through it) is contacted: "direct"/"off" entries are
# stripped from GOPROXY so nothing is fetched from a VCS host. There is no skip path: any failure exits
# non-zero with a message.
set -euo pipefail

# Pinned versions. Chosen from the module proxy on 2026-11 (see hack/README.md):
#   - k8s v1.36.4: newest 1.36.x whose go.mod verifies against the checksum database (v1.36.5 is on
#     the proxy but the checksum database does not know it yet, so Go refuses it);
#     its go.mod says go 1.26.0 / godebug default=go1.26.
#     NB: the proxy's version list is incomplete (`go list -m -versions` omits v1.36.4), so probe
#     concrete versions (`go list -m -json k8s.io/kubernetes@v1.36.N`) when bumping.
#   - etcd v3.6.16: newest 3.6.x on the proxy (go 1.26.0).
K8S_VERSION="${K8S_VERSION:-v1.36.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"

K8S_VERSION="v${K8S_VERSION#v}"
ETCD_VERSION="v${ETCD_VERSION#v}"

log() { printf 'envtest.sh: %s\n' "$*" >&2; }
die() {
  printf 'envtest.sh: ERROR: %s\n' "$*" >&2
  exit 1
}
on_err() {
  local rc=$? line="$1" cmd="$2"
  printf 'envtest.sh: ERROR: command failed (exit %s) at line %s: %s\n' "$rc" "$line" "$cmd" >&2
  exit "$rc"
}
trap 'on_err "$LINENO" "$BASH_COMMAND"' ERR

# binaries_ok DIR [check-version]: both binaries exist, are executable and (optionally) run --version.
binaries_ok() {
  local dir="$1" check="${2:-}" b
  for b in kube-apiserver etcd; do
    [[ -f "$dir/$b" && -x "$dir/$b" ]] || return 1
    if [[ -n "$check" ]]; then
      timeout 60 "$dir/$b" --version >/dev/null 2>&1 || return 1
    fi
  done
  return 0
}

# ---- a. KUBEBUILDER_ASSETS ---------------------------------------------------------------------
if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  if binaries_ok "$KUBEBUILDER_ASSETS"; then
    (cd "$KUBEBUILDER_ASSETS" && pwd -P)
    exit 0
  fi
  log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks executable kube-apiserver/etcd; using the cache"
fi

# ---- b. version-keyed cache ---------------------------------------------------------------------
command -v go >/dev/null 2>&1 || die "go not found in PATH (need a local Go toolchain, e.g. go1.26.x)"
command -v python3 >/dev/null 2>&1 || die "python3 not found in PATH"

export GOTOOLCHAIN=local GO111MODULE=on GOWORK=off CGO_ENABLED=0
GOVERSION="$(go env GOVERSION)"
GOHOSTOS="$(go env GOOS)"
GOHOSTARCH="$(go env GOARCH)"

CACHE_ROOT="${ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcm-envtest}"
KEY="k8s-${K8S_VERSION#v}-etcd-${ETCD_VERSION#v}-${GOVERSION}-${GOHOSTOS}-${GOHOSTARCH}"
mkdir -p "$CACHE_ROOT"
CACHE_ROOT="$(cd "$CACHE_ROOT" && pwd -P)"
OUT="$CACHE_ROOT/$KEY"

if binaries_ok "$OUT" check; then
  echo "$OUT"
  exit 0
fi

# Serialise concurrent builders (parallel test workers, two shells): the loser waits, then reuses.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_ROOT/.lock"
  if ! flock -n 9; then
    log "another envtest.sh is building in $CACHE_ROOT; waiting for its lock"
    flock 9
  fi
  if binaries_ok "$OUT" check; then
    echo "$OUT"
    exit 0
  fi
  # We hold the lock, so any staging dir left over is from a killed build: remove it.
  rm -rf "$CACHE_ROOT"/.build-*
fi

# ---- c. build from the Go module proxy ------------------------------------------------------------
# Proxy only: drop "direct" and "off" from GOPROXY so a proxy miss never turns into a VCS fetch.
GOPROXY="$(go env GOPROXY | python3 -c '
import re, sys
parts = re.split(r"([,|])", sys.stdin.read().strip())
out = []
for i in range(0, len(parts), 2):
    url = parts[i].strip()
    if url and url not in ("direct", "off"):
        if out:
            out.append(parts[i - 1])
        out.append(url)
print("".join(out))
')"
[[ -n "$GOPROXY" ]] || die "GOPROXY has no module proxy in it (only direct/off); cannot build"
export GOPROXY GOPRIVATE="" GONOPROXY=""
export GOFLAGS="-p=${ENVTEST_GO_PARALLELISM:-2} -buildvcs=false"

log "building kube-apiserver ${K8S_VERSION} and etcd ${ETCD_VERSION} with ${GOVERSION} (GOPROXY=${GOPROXY})"
log "target: $OUT (cold: ~0.8 GB of modules, ~2.4 GB of build cache, ~3-4 min on 2 cores)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mcm-envtest-work.XXXXXX")"
STAGE="$(mktemp -d "$CACHE_ROOT/.build-$KEY.XXXXXX")"
cleanup() { rm -rf "$WORK" "$STAGE"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_go LOGNAME ARGS...: run go with output to stderr (ENVTEST_VERBOSE=1) or to a log whose tail is
# shown if it fails.
run_go() {
  local logf="$WORK/$1.log"
  shift
  if [[ "${ENVTEST_VERBOSE:-}" == 1 ]]; then
    go "$@" >&2
    return
  fi
  if ! go "$@" >"$logf" 2>&1; then
    tail -n 60 "$logf" >&2
    die "'go $*' failed (full log above; rerun with ENVTEST_VERBOSE=1 to stream it)"
  fi
}

# json_get PATH [DEFAULT]: read one JSON document on stdin, print the dotted PATH (or DEFAULT).
json_get() {
  python3 -c '
import json, sys
d = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d = d.get(k) if isinstance(d, dict) else None
print(sys.argv[2] if d in (None, "") else d)
' "$1" "${2:-}"
}

# download_mod MOD@VER: fetch (and checksum-verify) a module; print `go mod download -json` output.
download_mod() {
  local out
  if ! out="$(go mod download -json "$1" 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "could not download $1 from the module proxy (GOPROXY=$GOPROXY)"
  fi
  printf '%s\n' "$out"
}

# origin_hash MOD@VER: the VCS commit the proxy reports for a version, or "" if it reports none.
origin_hash() {
  local j
  j="$(go list -m -json "$1" 2>/dev/null)" || return 0
  json_get Origin.Hash "" <<<"$j" 2>/dev/null || true
}

# mirror_go_lines GOMOD: copy the `go` and `godebug` lines of GOMOD into the current module, so the
# language version and GODEBUG defaults match the upstream build.
mirror_go_lines() {
  local gomod="$1" gover kv
  gover="$(go mod edit -json "$gomod" | json_get Go "")"
  if [[ -n "$gover" ]]; then
    python3 - "$gover" "${GOVERSION#go}" <<'PY' || die "module needs go >= $gover but the local toolchain is ${GOVERSION} (GOTOOLCHAIN=local)"
import re, sys
def v(s):
    return [int(x) for x in re.findall(r"\d+", s)[:3]] + [0] * (3 - len(re.findall(r"\d+", s)[:3]))
sys.exit(0 if v(sys.argv[1]) <= v(sys.argv[2]) else 1)
PY
    go mod edit -go="$gover"
  fi
  while IFS= read -r kv; do
    if [[ -n "$kv" ]]; then go mod edit -godebug="$kv"; fi
  done < <(go mod edit -json "$gomod" | python3 -c '
import json, sys
for g in json.load(sys.stdin).get("Godebug") or []:
    print(g["Key"] + "=" + g["Value"])
')
}

# ---- kube-apiserver ---------------------------------------------------------------------------------
log "[kube-apiserver] resolving k8s.io/kubernetes@${K8S_VERSION}"
mkdir "$WORK/kas"
cd "$WORK/kas"
go mod init example.invalid/mcm-envtest/kas >/dev/null 2>&1

meta="$(download_mod "k8s.io/kubernetes@${K8S_VERSION}")"
kmod="$(json_get GoMod <<<"$meta")"
kdir="$(json_get Dir <<<"$meta")"
[[ -f "$kmod" ]] || die "no go.mod for k8s.io/kubernetes@${K8S_VERSION} (got: $meta)"
kcommit="$(origin_hash "k8s.io/kubernetes@${K8S_VERSION}")"

mirror_go_lines "$kmod"

# Each staging module (k8s.io/x => ./staging/src/k8s.io/x) becomes its published release; kubernetes
# vA.B.C[-pre] corresponds to staging vA-1.B.C[-pre] -> v0.B.C[-pre]. Other replaces are copied as is.
staging_ver="v0.${K8S_VERSION#v1.}"
replaces="$(go mod edit -json "$kmod" | python3 -c '
import json, sys
staging_ver = sys.argv[1]
d = json.load(sys.stdin)
for r in d.get("Replace") or []:
    old, new = r["Old"], r["New"]
    lhs = old["Path"] + ("@" + old["Version"] if old.get("Version") else "")
    if new["Path"].startswith("./staging/"):
        print(lhs + "=" + old["Path"] + "@" + staging_ver)
    elif new.get("Version"):
        print(lhs + "=" + new["Path"] + "@" + new["Version"])
    else:
        sys.exit("unsupported local replace in k8s.io/kubernetes go.mod: %s => %s" % (lhs, new["Path"]))
for e in d.get("Exclude") or []:
    print("exclude:" + e["Path"] + "@" + e["Version"])
' "$staging_ver")"
n=0
while IFS= read -r r; do
  [[ -n "$r" ]] || continue
  if [[ "$r" == exclude:* ]]; then
    go mod edit -exclude="${r#exclude:}"
  else
    go mod edit -replace="$r"
    n=$((n + 1))
  fi
done <<<"$replaces"
((n > 0)) || die "found no staging replace lines in k8s.io/kubernetes@${K8S_VERSION} go.mod"
log "[kube-apiserver] generated $n replace lines (staging -> ${staging_ver})"

log "[kube-apiserver] go get -tool k8s.io/kubernetes/cmd/kube-apiserver@${K8S_VERSION}"
run_go kas-get get -tool "k8s.io/kubernetes/cmd/kube-apiserver@${K8S_VERSION}"

# Build like hack/lib/golang.sh + hack/lib/version.sh: static, trimmed, stripped, version-stamped.
tags="selinux,notest"
if grep -q grpcnotrace "$kdir/hack/lib/golang.sh" 2>/dev/null; then
  tags+=",grpcnotrace" # upstream non-debug builds add it (1.34+)
fi
minor="${K8S_VERSION#v1.}"
minor="${minor%%.*}"
if [[ -n "${SOURCE_DATE_EPOCH:-}" ]]; then
  build_date="$(date -u -d "@${SOURCE_DATE_EPOCH}" +%Y-%m-%dT%H:%M:%SZ)"
else
  build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
fi
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $p.gitVersion=${K8S_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=${minor}"
  # gitCommit empty (not the "$Format:%H$" placeholder) when the proxy gives no VCS origin.
  ld+=" -X $p.gitTreeState=clean -X $p.buildDate=${build_date} -X $p.gitCommit=${kcommit}"
done
log "[kube-apiserver] go build (tags ${tags}; gitCommit=${kcommit:-unknown, proxy gave no origin})"
run_go kas-build build -trimpath -tags "$tags" -ldflags "$ld" -o "$STAGE/kube-apiserver" \
  k8s.io/kubernetes/cmd/kube-apiserver

# ---- etcd ----------------------------------------------------------------------------------------
# server/main.go is package main; in a throwaway module etcd's own ../api-style replaces are ignored
# and its requires already pin the sibling modules at the same tag.
log "[etcd] resolving go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
mkdir "$WORK/etcd"
cd "$WORK/etcd"
go mod init example.invalid/mcm-envtest/etcd >/dev/null 2>&1
emeta="$(download_mod "go.etcd.io/etcd/server/v3@${ETCD_VERSION}")"
emod="$(json_get GoMod <<<"$emeta")"
[[ -f "$emod" ]] || die "no go.mod for go.etcd.io/etcd/server/v3@${ETCD_VERSION} (got: $emeta)"
mirror_go_lines "$emod"
run_go etcd-get get -tool "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
esha="$(origin_hash "go.etcd.io/etcd/server/v3@${ETCD_VERSION}")"
eld="-s -w"
if [[ -n "$esha" ]]; then
  eld+=" -X go.etcd.io/etcd/api/v3/version.GitSHA=${esha:0:7}"
fi
log "[etcd] go build (GitSHA=${esha:-unknown, proxy gave no origin})"
run_go etcd-build build -trimpath -installsuffix=cgo -ldflags "$eld" -o "$STAGE/etcd" go.etcd.io/etcd/server/v3

# ---- verify, then publish atomically ------------------------------------------------------------
cd "$CACHE_ROOT"
"$STAGE/kube-apiserver" --version >&2 || die "built kube-apiserver does not run"
"$STAGE/etcd" --version >&2 || die "built etcd does not run"
cat >"$STAGE/BUILD-INFO" <<EOF
kube-apiserver k8s.io/kubernetes@${K8S_VERSION} commit=${kcommit:-unknown} tags=${tags}
etcd go.etcd.io/etcd/server/v3@${ETCD_VERSION} commit=${esha:-unknown}
go ${GOVERSION} ${GOHOSTOS}/${GOHOSTARCH} GOPROXY=${GOPROXY} built=${build_date}
EOF
chmod 0755 "$STAGE"
if [[ -e "$OUT" ]]; then
  log "replacing broken cache dir $OUT"
  rm -rf "$OUT"
fi
mv -T "$STAGE" "$OUT"
log "done: $OUT"
echo "$OUT"
