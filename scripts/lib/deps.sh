# scripts/lib/deps.sh — install the Debian packages lode needs to build, test and serve.
# Sourced by scripts/up and scripts/test. Installs only what is missing; uses sudo when not root.

LODE_PACKAGES="build-essential cmake pkg-config clang llvm libclang-rt-14-dev
  libnghttp2-dev libssl-dev libevent-dev libpq-dev libzstd-dev libsodium-dev
  libcunit1-dev libjansson-dev libhttp-parser-dev libutf8proc-dev liblzma-dev libcurl4-openssl-dev
  postgresql postgresql-contrib nghttp2-client nghttp2-server curl openssl zstd jq xxd python3
  python3-yaml time"

lode_install_deps() {
    local missing="" pkg
    for pkg in $LODE_PACKAGES; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $pkg"
    done
    [ -z "$missing" ] && return 0
    echo "==> installing:$missing"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "need root or sudo to install:$missing" >&2; return 1; }
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q </dev/null
    # shellcheck disable=SC2086
    $sudo apt-get install -y -q --no-install-recommends $missing </dev/null
}

# lode_build DIR [cmake args...]: configure (once) and build the tree in DIR.
lode_build() {
    local dir="$1"; shift
    cmake -S "$LODE_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)"
}
