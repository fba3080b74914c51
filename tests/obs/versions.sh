#!/usr/bin/env bash
# The real-OBS end-to-end suite (pytest -m obs) against the OBS Studio of several Debian
# releases, each in its own root built with debootstrap from Debian's package registry:
#   bookworm (Debian 12): OBS 29.0 · trixie (Debian 13): OBS 30.2 · sid (unstable): OBS 32.x
# Each root has obs-studio, Xvfb, Mesa's software GL and a venv made with that root's
# /usr/bin/python3 (the Python its OBS links) holding the runtime + test packages. The
# checkout is copied into the root and the suite runs there under chroot, in a private
# mount namespace (/proc, /dev bind-mounted; nothing leaks out when it ends).
#
# Prints one line per release:  OBS <version>: passed  |  OBS <version>: failed (<reason>)
# and exits non-zero if any failed.
#
# Roots are cached between runs in $OBS_BG_ROOTS (default /var/cache/obs-bg-roots), keyed
# on the suite, this script's recipe and the runtime pins: a root is rebuilt when one of
# them changes, and apt/pip are not touched otherwise. The wheels are cached there too
# (for the install-button test, which installs offline from them).
# Needs root, debootstrap (installed with apt if missing) and the package registries.
#   OBS_BG_SUITES="trixie sid"   only these releases
#   OBS_BG_DEBIAN_MIRROR=URL     the Debian archive (default: the one this machine's apt uses)
#   OBS_BG_PYTEST_ARGS="-k x"    extra pytest arguments
#   OBS_BG_BUILD_ONLY=1          build (or check) the roots, run no test
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
CACHE=${OBS_BG_ROOTS:-/var/cache/obs-bg-roots}
SUITES=${OBS_BG_SUITES:-bookworm trixie sid}
RECIPE=3  # bump when the root recipe below changes
APT_PKGS="obs-studio obs-plugins xvfb x11-utils libgl1-mesa-dri libglx-mesa0 libegl-mesa0 python3-venv ca-certificates"
VENV=/opt/obs-bg-venv      # inside each root
WHEELS=/opt/obs-bg-wheels  # inside each root: the runtime wheels, for the offline install test

die() { echo "versions.sh: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"
if ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
        debootstrap >/dev/null \
        || die "debootstrap is missing and could not be installed"
fi

host_mirror() {  # the Debian archive this machine's apt already uses (no host name in this file)
    local m
    m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v -- '-security' | head -1)
    [ -n "$m" ] || m=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v -- '-security' | head -1)
    echo "$m"
}
MIRROR=${OBS_BG_DEBIAN_MIRROR:-$(host_mirror)}
[ -n "$MIRROR" ] || die "no Debian archive found in /etc/apt; set OBS_BG_DEBIAN_MIRROR"

# Runtime pins from pyproject.toml (Linux markers), + what the e2e test itself imports.
RUNTIME=$(python3 tools/runtime_requirements.py --platform linux) || die "cannot read the runtime pins"
TEST_PKGS="pytest>=7 obsws-python>=1.6 scikit-image>=0.21"
BASE_KEY=$(printf '%s\n' "$RECIPE" "$APT_PKGS" | sha256sum | cut -c1-16)
KEY=$(printf '%s\n' "$BASE_KEY" "$RUNTIME" "$TEST_PKGS" | sha256sum | cut -c1-16)
mkdir -p "$CACHE/logs" "$CACHE/pip-cache"

# Run a command inside a root: private mount namespace, /proc /sys /dev, the pip cache.
in_root() {
    local root=$1; shift
    unshare --mount --propagation private -- bash -c '
        root=$1; cache=$2; shift 2
        mount -t proc proc "$root/proc" && mount --rbind /sys "$root/sys" && mount --rbind /dev "$root/dev" \
          && mkdir -p "$root/root/.cache/pip" && mount --bind "$cache/pip-cache" "$root/root/.cache/pip" \
          || exit 97
        exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root \
            LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"' _ "$root" "$CACHE" "$@"
}

build_root() {  # build_root SUITE → $CACHE/SUITE, ready; logs to $CACHE/logs/SUITE-build.log
    local suite=$1 root=$CACHE/$1 tmp=$CACHE/$1.building log=$CACHE/logs/$1-build.log
    if [ -f "$root/.obs-bg-ready" ] && [ "$(cat "$root/.obs-bg-ready")" = "$KEY" ]; then
        return 0
    fi
    if [ -d "$root" ] && [ ! -d "$tmp" ]; then
        mv "$root" "$tmp"  # the packages changed: keep the system, rebuild the venv
    fi
    : >"$log"
    echo "versions.sh: building the $suite root (cold: several minutes; log $log)" >&2
    {
        # 1. The system: debootstrap + OBS & co. Reused while the apt package list holds.
        if [ ! -f "$tmp/.obs-bg-base" ] || [ "$(cat "$tmp/.obs-bg-base")" != "$BASE_KEY" ]; then
            rm -rf "$tmp"
            debootstrap --variant=minbase "$suite" "$tmp" "$MIRROR" || return 10
            echo "deb $MIRROR $suite main" >"$tmp/etc/apt/sources.list"
            # unstable's Release files expire within days; a machine clock ahead of the
            # archive (or a mirror snapshot) must not stop the build.
            echo 'Acquire::Check-Valid-Until "false";' >"$tmp/etc/apt/apt.conf.d/99obs-bg-replace"
            in_root "$tmp" apt-get update -qq || return 11
            # shellcheck disable=SC2086
            in_root "$tmp" apt-get install -y -qq --no-install-recommends $APT_PKGS || return 12
            in_root "$tmp" apt-get clean
            echo "$BASE_KEY" >"$tmp/.obs-bg-base"
        fi
        [ -s "$tmp/etc/machine-id" ] || python3 -c "import uuid; print(uuid.uuid4().hex)" >"$tmp/etc/machine-id"  # D-Bus wants one
        # This machine's name resolution and local certificate authorities (a TLS proxy).
        cp /etc/resolv.conf "$tmp/etc/resolv.conf"
        if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
            cp /usr/local/share/ca-certificates/*.crt "$tmp/usr/local/share/ca-certificates/"
            in_root "$tmp" update-ca-certificates >/dev/null || return 13
        fi
        # 2. The venv, made with the root's Python (the one its OBS links).
        rm -rf "$tmp$VENV" "$tmp$WHEELS"
        in_root "$tmp" /usr/bin/python3 -m venv "$VENV" || return 14
        # shellcheck disable=SC2086
        in_root "$tmp" "$VENV/bin/python" -m pip install -q --disable-pip-version-check $RUNTIME $TEST_PKGS \
            || return 15
        # shellcheck disable=SC2086
        in_root "$tmp" "$VENV/bin/python" -m pip download -q --disable-pip-version-check --only-binary=:all: \
            -d "$WHEELS" $RUNTIME || return 16
    } >>"$log" 2>&1
    echo "$KEY" >"$tmp/.obs-bg-ready"
    rm -rf "$root" && mv "$tmp" "$root"
}

obs_version() {  # upstream version of the root's obs-studio package
    in_root "$1" dpkg-query -W -f='${Version}' obs-studio 2>/dev/null | sed -E 's/^[0-9]+://; s/[+~-].*//'
}

run_suite() {  # run_suite SUITE → prints the result line, returns 0 if passed
    local suite=$1 root=$CACHE/$1 log=$CACHE/logs/$1-pytest.log rc why ver
    local t0=$SECONDS
    build_root "$suite"
    rc=$?
    if [ $rc != 0 ]; then
        why=$(grep -v '^\s*$' "$CACHE/logs/$suite-build.log" | tail -1 | cut -c1-160)
        echo "OBS ($suite): failed (root build step $rc: $why; log $CACHE/logs/$suite-build.log)"
        return 1
    fi
    ver=$(obs_version "$root")
    # A fresh copy of the checkout (tracked + untracked, not ignored files) in the root.
    rm -rf "$root/src" && mkdir -p "$root/src"
    git ls-files -z -co --exclude-standard | xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' \
        | tar -C "$REPO" --null -T - -cf - | tar -C "$root/src" -xf -
    rm -rf "$root/tmp" && mkdir -m 1777 "$root/tmp"
    # shellcheck disable=SC2086
    in_root "$root" /usr/bin/env OBS_BG_REQUIRE_OBS=1 OBS_BG_TEST_VENV="$VENV" OBS_BG_TEST_WHEELS="$WHEELS" \
        PYTHONDONTWRITEBYTECODE=1 COLUMNS=300 bash -c "cd /src && exec $VENV/bin/python -m pytest tests/obs -m obs -q -p no:cacheprovider -rfE ${OBS_BG_PYTEST_ARGS:-}" \
        >"$log" 2>&1
    rc=$?
    local dt=$((SECONDS - t0))
    if [ $rc = 0 ]; then
        echo "OBS $ver: passed ($suite, python $(in_root "$root" /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])'), ${dt} s)"
        return 0
    fi
    why=$(grep -E '^(FAILED|ERROR) tests/' "$log" | head -1 | cut -c1-240)
    [ -n "$why" ] || why="pytest exit $rc: $(grep -v '^\s*$' "$log" | tail -1 | cut -c1-160)"
    echo "OBS $ver: failed ($suite: $why; log $log)"
    return 1
}

status=0
for s in $SUITES; do
    if [ "${OBS_BG_BUILD_ONLY:-}" = 1 ]; then
        t0=$SECONDS
        if build_root "$s"; then
            echo "OBS root $s: ready (OBS $(obs_version "$CACHE/$s"), $((SECONDS - t0)) s)"
        else
            echo "OBS root $s: build failed (log $CACHE/logs/$s-build.log)"
            status=1
        fi
        continue
    fi
    run_suite "$s" || status=1
done
exit $status
