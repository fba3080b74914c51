#!/usr/bin/env bash
# The README's two commands, verbatim, as a new user of a fresh Debian: what a newcomer
# types after cloning, on a stock machine whose only Python is the system one (PEP 668).
#
#  1. A stock root: debootstrap (minbase + python3, sudo, ca-certificates, git: what a
#     Debian install with a user in the sudo group has, and git, which cloned the project),
#     kept pristine in $OBS_BG_ROOTS and copied afresh for every run; only apt's download
#     cache carries over between runs.
#  2. A new user `newcomer` (sudo without a password prompt: the one thing a person would
#     type) with a fresh clone of the checkout at ~/obs-bg-replace, its files as in the
#     working tree (tracked + untracked, not ignored: uncommitted changes are tested too).
#  3. The two commands, read from README.md (the code block after `<!-- command 1 -->` and
#     after `<!-- command 2 -->`), each run by `su -` (a login shell: the user's own, clean
#     environment): first as they are, then again from inside an activated venv of the
#     user's own (~/myvenv).
# The real-OBS smoke test must run, not skip: OBS_BG_REQUIRE_OBS=1 passes through su.
#
# Prints "fresh root (SUITE): passed (N s)" or "fresh root (SUITE): failed (...)"; exit 0/1.
# Needs root, debootstrap and the package registries. Logs: $OBS_BG_ROOTS/logs/fresh-*.
#   OBS_BG_FRESH_SUITE=trixie   another Debian release (default bookworm, Debian 12)
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CACHE=${OBS_BG_ROOTS:-/var/cache/obs-bg-roots}
SUITE=${OBS_BG_FRESH_SUITE:-bookworm}
RECIPE=2  # bump when the stock root below changes
STOCK=$CACHE/stock-$SUITE
RUN=$CACHE/fresh-$SUITE
LOG=$CACHE/logs/fresh-$SUITE.log
USER_NAME=newcomer

die() { echo "fresh root ($SUITE): failed ($*; log $LOG)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "fresh-root.sh: needs root (debootstrap, chroot)" >&2; exit 2; }
mkdir -p "$CACHE/logs" "$CACHE/fresh-apt-archives/partial"
: >"$LOG"
t0=$SECONDS

host_mirror() {  # the Debian archive this machine's apt already uses (as tests/obs/versions.sh)
    local m
    m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v -- '-security' | head -1)
    [ -n "$m" ] || m=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v -- '-security' | head -1)
    echo "$m"
}
MIRROR=${OBS_BG_DEBIAN_MIRROR:-$(host_mirror)}
[ -n "$MIRROR" ] || die "no Debian archive found in /etc/apt; set OBS_BG_DEBIAN_MIRROR"

# Run a command in the root: private mount namespace, /proc /sys /dev, apt's download cache.
in_root() {
    local root=$1; shift
    unshare --mount --propagation private -- bash -c '
        root=$1; cache=$2; shift 2
        mount -t proc proc "$root/proc" && mount --rbind /sys "$root/sys" && mount --rbind /dev "$root/dev" \
          && mount --bind "$cache/fresh-apt-archives" "$root/var/cache/apt/archives" || exit 97
        exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root \
            LANG=C.UTF-8 "$@"' _ "$root" "$CACHE" "$@"
}

# 1. The stock root, built once per recipe and kept pristine.
KEY=$(printf '%s\n' "$RECIPE" "$SUITE" | sha256sum | cut -c1-16)
if [ ! -f "$STOCK/.obs-bg-stock" ] || [ "$(cat "$STOCK/.obs-bg-stock")" != "$KEY" ]; then
    echo "fresh-root.sh: building the stock $SUITE root (cold: a few minutes)" >&2
    rm -rf "$STOCK" "$STOCK.building"
    debootstrap --variant=minbase --include=python3,sudo,ca-certificates,git "$SUITE" "$STOCK.building" "$MIRROR" \
        >>"$LOG" 2>&1 || die "debootstrap"
    echo "deb $MIRROR $SUITE main" >"$STOCK.building/etc/apt/sources.list"
    echo 'Acquire::Check-Valid-Until "false";' >"$STOCK.building/etc/apt/apt.conf.d/99obs-bg-replace"
    python3 -c "import uuid; print(uuid.uuid4().hex)" >"$STOCK.building/etc/machine-id"  # D-Bus wants one
    echo "$KEY" >"$STOCK.building/.obs-bg-stock"
    mv "$STOCK.building" "$STOCK"
fi

# 2. A fresh copy of it, this machine's name resolution and certificate authorities, the user.
rm -rf "$RUN" && cp -a "$STOCK" "$RUN" || die "copy of the stock root"
cp /etc/resolv.conf "$RUN/etc/resolv.conf"
printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$(hostname)" >"$RUN/etc/hosts"  # as an installed system has
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then  # a TLS proxy
    cp /usr/local/share/ca-certificates/*.crt "$RUN/usr/local/share/ca-certificates/"
    in_root "$RUN" update-ca-certificates >>"$LOG" 2>&1 || die "update-ca-certificates"
fi
in_root "$RUN" useradd -m -s /bin/bash -G sudo "$USER_NAME" >>"$LOG" 2>&1 || die "useradd"
echo "$USER_NAME ALL=(ALL) NOPASSWD:ALL" >"$RUN/etc/sudoers.d/$USER_NAME"
ROOT_UID=$(in_root "$RUN" id -u "$USER_NAME")
SRC=$RUN/home/$USER_NAME/obs-bg-replace
git clone -q --no-local "$REPO" "$SRC" >>"$LOG" 2>&1 || die "git clone"
git ls-files -z -co --exclude-standard | xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' \
    | tar -C "$REPO" --null -T - -cf - | tar -C "$SRC" -xf - || die "copy of the checkout"
chown -R "$ROOT_UID:$ROOT_UID" "$SRC"
rm -rf "$RUN/tmp" && mkdir -m 1777 "$RUN/tmp"

# 3. The README's commands.
readme_command() {  # the first line of the code block after <!-- command N -->
    awk -v m="<!-- command $1 -->" '$0 == m {f = 1; next} f && /^```/ {if (b) exit; b = 1; next} f && b {print; exit}' \
        README.md
}
cmd1=$(readme_command 1)
cmd2=$(readme_command 2)
[ -n "$cmd1" ] && [ -n "$cmd2" ] || die "README.md has no <!-- command 1 --> / <!-- command 2 --> block"
as_user() {  # as_user WHAT SCRIPT: a login shell of the new user, in the checkout
    local what=$1 t=$SECONDS rc
    echo "=== $what: $2" >>"$LOG"
    in_root "$RUN" /usr/bin/env OBS_BG_REQUIRE_OBS=1 su -l -w OBS_BG_REQUIRE_OBS "$USER_NAME" \
        -c "cd ~/obs-bg-replace && $2" >>"$LOG" 2>&1
    rc=$?
    echo "=== $what: exit $rc, $((SECONDS - t)) s" >>"$LOG"
    times+=("$what $((SECONDS - t)) s")
    [ $rc = 0 ] || die "$what exited $rc: $(grep -E '^(FAILED|ERROR)|error' "$LOG" | tail -1 | cut -c1-200)"
}
times=()
as_user "command 1" "$cmd1"
as_user "command 2" "$cmd2"
as_user "own venv" "python3 -m venv ~/myvenv"
as_user "command 1 in a venv" ". ~/myvenv/bin/activate && $cmd1"
as_user "command 2 in a venv" ". ~/myvenv/bin/activate && $cmd2"
grep -qE "[0-9]+ passed" "$LOG" || die "no test passed"
if grep -E "^SKIPPED.*smoke|skipped.*real OBS" "$LOG" >/dev/null; then die "the real-OBS smoke test skipped"; fi
echo "fresh root ($SUITE): passed ($((SECONDS - t0)) s: $(IFS=,; echo "${times[*]}"))"
