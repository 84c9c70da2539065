#!/usr/bin/env bash
# Builds the Debian package with cargo-deb, checks what it holds, installs
# it with dpkg, verifies its systemd unit, and starts the installed binary
# as the unit would (same command line, user and directories) with the
# packaged example configs: a server and client 1 on this host, until both
# answer /healthz 200. Then removes the package.
#
# Run as root on a disposable machine (CI): it installs packages, creates
# the tcpws user and writes /etc/tcpws. A tool still missing after trying to
# install it is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "check-deb: FAILED: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || fail "must run as root (it installs the package)"

# ---- tools -----------------------------------------------------------------
# Where `cargo install` puts cargo-deb, even when cargo itself came from apt.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "== cargo install cargo-deb"
    cargo install cargo-deb --locked
fi
missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg)
# cargo-deb works out the package's library dependencies ($auto) with it.
command -v dpkg-shlibdeps >/dev/null 2>&1 || missing+=(dpkg-dev)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
# The unit's ExecReload runs kill(1), not the shell's builtin.
[ -x /usr/bin/kill ] || [ -x /bin/kill ] || missing+=(procps)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
for tool in cargo-deb systemd-analyze dpkg-deb dpkg dpkg-shlibdeps setpriv; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing even after trying to install it"
done
[ -x /usr/bin/kill ] || [ -x /bin/kill ] || fail "kill(1) is missing even after installing procps"

# ---- build and contents ----------------------------------------------------
echo "== cargo deb"
out=$(mktemp -d)
cargo deb -p tcpws --strip --output "$out" >/dev/null
deb=$(ls "$out"/*.deb)
echo "built $deb"

echo "== dpkg-deb --contents"
contents=$(dpkg-deb --contents "$deb")
echo "$contents"
for path in \
    ./usr/bin/tcpws \
    ./usr/lib/systemd/system/tcpws@.service \
    ./usr/share/doc/tcpws/examples/server.json \
    ./usr/share/doc/tcpws/examples/client1.json \
    ./usr/share/doc/tcpws/examples/client2.json \
    ./usr/share/doc/tcpws/README.md; do
    grep -q " $path\$" <<<"$contents" || fail "the package lacks $path"
done
# Captured first: `grep -q` on a pipe would end dpkg-deb early (SIGPIPE)
# and fail the pipeline under pipefail.
info=$(dpkg-deb --info "$deb")
grep -q ' postinst ' <<<"$info" || fail "the package has no postinst (system user)"

# ---- install ---------------------------------------------------------------
echo "== dpkg -i"
dpkg -i "$deb"
getent passwd tcpws >/dev/null || fail "the package did not create the tcpws user"
[ -d /etc/tcpws ] || fail "the package did not create /etc/tcpws"
version=$(/usr/bin/tcpws --version)
expected="tcpws $(awk -F'"' '/^version = /{print $2; exit}' cli/Cargo.toml)"
[ "$version" = "$expected" ] || fail "tcpws --version says '$version', expected '$expected'"

unit=/usr/lib/systemd/system/tcpws@.service
echo "== systemd-analyze verify"
# An instance of the template, found next to it.
systemd-analyze verify /usr/lib/systemd/system/tcpws@server.service ||
    fail "systemd-analyze verify found errors in $unit"

# ---- run the installed binary as the unit does ------------------------------
# `ExecStart=` with %i replaced: the same binary, flags and paths.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ -n "$exec_start" ] || fail "no ExecStart in $unit"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# What systemd does for an instance: ConfigurationDirectory (root-owned),
# StateDirectory (owned by the service user), then ExecStart as User=.
start_instance() {
    local instance=$1 example=$2
    install -d -m 0755 "/etc/tcpws/$instance"
    install -m 0640 -g tcpws "/usr/share/doc/tcpws/examples/$example" \
        "/etc/tcpws/$instance/config.json"
    install -d -m 0750 -o tcpws -g tcpws "/var/lib/tcpws/$instance"
    local cmd=${exec_start//%i/$instance}
    # shellcheck disable=SC2086
    setpriv --reuid=tcpws --regid=tcpws --init-groups -- $cmd \
        >"/var/lib/tcpws/$instance.out" 2>&1 &
    pids+=($!)
}

# GET /healthz on 127.0.0.1:$1; prints the status code (000 when closed).
health() {
    local reply
    reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" &&
        printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && cat <&3) 2>/dev/null) || true
    local code=${reply#HTTP/1.1 }
    code=${code%% *}
    [[ $code =~ ^[0-9]{3}$ ]] && echo "$code" || echo 000
}

wait_health() {
    local port=$1 want=$2 what=$3
    for _ in $(seq 1 200); do
        [ "$(health "$port")" = "$want" ] && return 0
        sleep 0.1
    done
    for f in /var/lib/tcpws/*.out; do echo "--- $f"; cat "$f"; done
    fail "$what: /healthz on port $port never answered $want"
}

echo "== the installed binary with the packaged examples"
start_instance server server.json
wait_health 9464 503 "the server without clients"
start_instance client1 client1.json
wait_health 9464 200 "the server with client 1 active"
wait_health 9465 200 "client 1 with its session up"
echo "server and client 1 answer /healthz 200"

for pid in "${pids[@]}"; do kill -TERM "$pid"; done
for pid in "${pids[@]}"; do
    wait "$pid" || fail "an instance did not exit 0 on SIGTERM"
done
pids=()
for instance in server client1; do
    ls "/var/lib/tcpws/$instance"/tcpws-*.log >/dev/null 2>&1 ||
        fail "no daily log file in the state directory /var/lib/tcpws/$instance"
    if ls "/etc/tcpws/$instance"/*.log >/dev/null 2>&1; then
        fail "log files were written next to the config in /etc/tcpws/$instance"
    fi
done

# ---- remove ----------------------------------------------------------------
echo "== dpkg -r"
dpkg -r tcpws
[ ! -e /usr/bin/tcpws ] || fail "dpkg -r left /usr/bin/tcpws"
rm -rf "$out"
echo "check-deb: OK"
