#!/usr/bin/env bash
# Prepare this machine to build and run the cpumon container stack offline with podman.
#
# Idempotent: every step checks whether it is already done and skips it. Needs root (apt-get,
# /etc/containers). Follows shared/container-testing.md:
#   1. Debian packages: podman, runc, fuse-overlayfs, slirp4netns, uidmap, debootstrap, and the CNI
#      dnsname plugin (service names resolve between containers only with it)
#   2. /etc/containers/containers.conf: runc runtime and ulimits that work in this sandbox
#   3. a local base image (debootstrap'ed bookworm + python3) imported as localhost/pybase:bookworm
#      and tagged with the names the Containerfiles use (python:3.11-slim, debian:bookworm-slim),
#      because no image registry is reachable here. Skipped when the real images are present.
#   4. the stand-in MariaDB image tagged as the official MySQL image the compose file names,
#      and a stand-in Redis image tagged as the official Redis image (tests/container/*).
#
# Environment:
#   CPUMON_BASE_IMAGE_REBUILD=1   re-create the base image even if it exists
#   CPUMON_STANDIN_REBUILD=1      rebuild the stand-in DB/Redis images even if they exist
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[setup_podman] %s\n' "$*" >&2; }

BASE_IMAGE=localhost/pybase:bookworm
PYTHON_IMAGE=docker.io/library/python:3.11-slim
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
MYSQL_IMAGE=docker.io/library/mysql:8.4
REDIS_IMAGE=docker.io/library/redis:7.4

if [[ $(id -u) -ne 0 ]]; then
    log "must run as root (installs Debian packages and writes /etc/containers)"
    exit 1
fi

# --- 1. packages -------------------------------------------------------------------------------
# golang-github-containernetworking-plugin-dnsname: podman 4.3 on Debian uses CNI, whose networks
# resolve service names (the API reaches `db`) only with the dnsname plugin.
packages=(podman runc fuse-overlayfs slirp4netns uidmap debootstrap golang-github-containernetworking-plugin-dnsname)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "packages present"
fi

# --- 2. containers.conf ------------------------------------------------------------------------
conf=/etc/containers/containers.conf
want_conf='[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"'
if [[ ! -f $conf ]] || ! grep -q 'runtime = "runc"' "$conf"; then
    log "writing $conf"
    mkdir -p /etc/containers
    [[ -f $conf ]] && cp "$conf" "$conf.bak.$(date +%s)"
    printf '%s\n' "$want_conf" >"$conf"
else
    log "$conf already configured"
fi

# --- 3. base image -----------------------------------------------------------------------------
mirror() {
    # first URI of the main Debian source, e.g. http://deb.debian.org/debian
    local src
    for src in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
        [[ -f $src ]] || continue
        awk '/^URIs:/ && $2 !~ /security/ {print $2; exit} /^deb / && $3 !~ /security/ {print $2; exit}' "$src"
        return
    done
}

if [[ ${CPUMON_BASE_IMAGE_REBUILD:-0} == 1 ]] || ! podman image exists "$BASE_IMAGE"; then
    if [[ ${CPUMON_BASE_IMAGE_REBUILD:-0} != 1 ]] && podman image exists "$PYTHON_IMAGE" \
        && podman image exists "$DEBIAN_IMAGE"; then
        log "real base images present; no local stand-in needed"
    else
        url="$(mirror)"
        url="${url:-http://deb.debian.org/debian}"
        rootfs="$(mktemp -d /var/tmp/cpumon-rootfs.XXXXXX)"
        trap 'rm -rf "$rootfs"' EXIT
        log "debootstrap bookworm from $url (about a minute)"
        debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
            bookworm "$rootfs" "$url" >/var/tmp/cpumon-debootstrap.log 2>&1 || {
            tail -n 30 /var/tmp/cpumon-debootstrap.log >&2
            exit 1
        }
        # keep the image small: apt lists and caches are not needed in a base image
        rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
        log "importing $BASE_IMAGE"
        tar -C "$rootfs" -c . | podman import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null 2>&1
        rm -rf "$rootfs"
        trap - EXIT
    fi
else
    log "$BASE_IMAGE present"
fi
if podman image exists "$BASE_IMAGE"; then
    for name in "$PYTHON_IMAGE" "$DEBIAN_IMAGE"; do
        # tag only when absent (never shadow a real image) or when it is already our stand-in
        if ! podman image exists "$name" || [[ ${CPUMON_BASE_IMAGE_REBUILD:-0} == 1 ]]; then
            podman tag "$BASE_IMAGE" "$name"
            log "tagged $BASE_IMAGE as $name"
        fi
    done
fi

# --- 4. stand-in service images ----------------------------------------------------------------
build_standin() { # image-name containerfile [extra files...]: rebuilt when its inputs change
    local name=$1 file=$2 digest current
    digest="$(cat "${@:2}" | sha256sum | cut -c1-16)"
    current="$(podman image inspect --format '{{ index .Labels "cpumon.standin.digest" }}' "$name" 2>/dev/null || true)"
    if [[ ${CPUMON_STANDIN_REBUILD:-0} == 1 || $current != "$digest" ]]; then
        log "building stand-in $name from $(basename "$file")"
        podman build --quiet --pull=never --format docker --label "cpumon.standin.digest=$digest" \
            -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
            -t "$name" -f "$file" "$here" >/dev/null
    else
        log "$name present (stand-in $digest)"
    fi
}
build_standin "$MYSQL_IMAGE" "$here/mysql-standin.Containerfile" "$here/mysql-standin-entrypoint.sh"
build_standin "$REDIS_IMAGE" "$here/redis-standin.Containerfile"

log "ready: $(podman --version)"
