#!/usr/bin/env bash
# tests/deploy/test_image.sh — build deploy/Containerfile for real and run what it built.
#
# No container engine and no registry are needed: the Debian 12 base image is made with
# debootstrap, the Containerfile is built by buildah (chroot isolation, vfs storage), and the
# image's own `lode` then runs against a throwaway PostgreSQL on this machine:
#   * `lode keygen` and `lode migrate` in the image;
#   * `lode serve` in the image, as its unprivileged user: /healthz and /readyz over HTTP/2 with
#     prior knowledge and over TLS (ALPN h2), an account, and POST /v1/detect answered with
#     the shipped model, found beside the installed binary.
# Prints the image size and the build time. Needs root and the Debian archive (the image build
# installs packages), so it is not part of ctest: run it after changing deploy/ or the build.
#   tests/deploy/test_image.sh            LODE_DEBIAN_MIRROR overrides deb.debian.org
set -euo pipefail
LODE_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export LODE_ROOT
. "$LODE_ROOT/scripts/lib/pg.sh"
[ "$(id -u)" -eq 0 ] || { echo "test_image.sh needs root (debootstrap, buildah)" >&2; exit 2; }
for tool in buildah debootstrap curl openssl jq; do
    command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "$tool" </dev/null >/dev/null
done
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
mirror=${LODE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
tag=$$
base=localhost/lode-test-base:$tag
image=localhost/lode-test:$tag
WORK=$(mktemp -d /tmp/lode-image.XXXXXX)
SERVE_PID=""
ctr=""
cleanup() {
    [ -n "$SERVE_PID" ] && { kill -TERM "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; }
    [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1 || true
    buildah rmi -f "$image" "$base" >/dev/null 2>&1 || true
    lode_pg_stop "$WORK/pg"
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$WORK/serve.log" ] && tail -20 "$WORK/serve.log" >&2; exit 1; }

echo "==> Debian 12 base image (debootstrap --variant=minbase, $mirror)"
debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -5 "$WORK/debootstrap.log" >&2; fail "debootstrap"; }
rm -f "$WORK"/rootfs/var/cache/apt/archives/*.deb # as in Debian's own slim images
c=$(buildah from scratch)
buildah copy "$c" "$WORK/rootfs" / >/dev/null
buildah commit --rm "$c" "$base" >/dev/null
rm -rf "$WORK/rootfs"

echo "==> buildah bud -f deploy/Containerfile"
start=$(date +%s)
buildah bud --quiet -f "$LODE_ROOT/deploy/Containerfile" --build-arg "BASE=$base" -t "$image" \
    "$LODE_ROOT" >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; fail "image build"; }
echo "built in $(( $(date +%s) - start )) s; image size: $(buildah images --format '{{.Size}}' "$image")"

ctr=$(buildah from "$image")
[ "$(buildah inspect --format '{{.OCIv1.Config.User}}' "$ctr")" = "10001:10001" ] ||
    fail "the image does not run as its unprivileged user"

echo "==> a throwaway PostgreSQL; keys and certificate for the image"
LODE_PG_FSYNC=off lode_pg_start "$WORK/pg" >/dev/null
chmod 711 "$WORK/pg" # the image's user reaches the socket, not the data
mkdir -p "$WORK/etc/tls" "$WORK/etc/ledger"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -keyout "$WORK/etc/tls/tls.key" -out "$WORK/etc/tls/tls.crt" 2>/dev/null
chown -R 10001:10001 "$WORK/etc"
run() { buildah run -v "$WORK/pg:/run/pg" -v "$WORK/etc:/etc/lode" "$@"; }
db="postgresql://lode@%2Frun%2Fpg/lode"
run "$ctr" -- /usr/local/bin/lode keygen --out /etc/lode/ledger/checkpoint.key >/dev/null ||
    fail "lode keygen in the image"
run -e "LODE_DATABASE_URL=$db" "$ctr" -- /usr/local/bin/lode migrate >"$WORK/migrate.log" 2>&1 ||
    { cat "$WORK/migrate.log" >&2; fail "lode migrate in the image"; }
tail -n 1 "$WORK/migrate.log"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p1=$(port); p2=$(port)
echo "==> lode serve in the image (h2c :$p1, TLS :$p2)"
run -e "LODE_DATABASE_URL=$db" -e "LODE_LISTEN=127.0.0.1:$p1" -e "LODE_TLS_LISTEN=127.0.0.1:$p2" \
    -e LODE_THREADS=1 -e LODE_MIGRATE=false "$ctr" -- /usr/local/bin/lode serve \
    >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 100); do
    curl -sf --http2-prior-knowledge "http://127.0.0.1:$p1/readyz" >/dev/null 2>&1 && break
    kill -0 "$SERVE_PID" 2>/dev/null || fail "lode serve exited"
    sleep 0.2
done
[ "$(curl -s -o /dev/null -w '%{http_version} %{http_code}' --http2-prior-knowledge \
    "http://127.0.0.1:$p1/healthz")" = "2 200" ] || fail "/healthz over h2c"
[ "$(curl -sk -o /dev/null -w '%{http_version} %{http_code}' --http2 \
    "https://127.0.0.1:$p2/readyz")" = "2 200" ] || fail "/readyz over TLS with ALPN h2"

token=$(run -e "LODE_DATABASE_URL=$db" "$ctr" -- /usr/local/bin/lode account create \
    --name image-test --role contributor --no-migrate | tail -n 1) ||
    fail "lode account create in the image"
text="The committee met on Tuesday to discuss the budget for next year. Several members raised \
concerns about the cost of repairs to the old library, which has been closed since the storm in \
March. After a long debate they agreed to ask the town for a loan and to hold a public meeting \
before any work begins, so that residents can see the plans and say what they think of them."
answer=$(curl -sk --http2 -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "$(jq -n --arg t "$text" '{text: $t}')" "https://127.0.0.1:$p2/v1/detect")
verdict=$(jq -r .verdict <<<"$answer")
version=$(jq -r .model_version <<<"$answer")
case "$verdict" in human|uncertain|synthetic) ;; *) fail "/v1/detect answered: $answer" ;; esac
[[ "$version" == lode-detector/* ]] || fail "/v1/detect gave no model version: $answer"
echo "/v1/detect in the image: $verdict ($version)"

# SIGTERM to lode itself (buildah run does not forward it), then buildah passes on its status
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
lode_pid=""
for p in $(descendants "$SERVE_PID"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = lode ] && lode_pid=$p
done
[ -n "$lode_pid" ] || fail "no lode process under buildah run"
kill -TERM "$lode_pid"
wait "$SERVE_PID" || fail "lode serve did not exit 0 on SIGTERM"
SERVE_PID=""
echo "test_image: ok"
