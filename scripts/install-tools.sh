#!/usr/bin/env bash
# Install the system tools the test-suite needs: prometheus, promtool, alertmanager, amtool,
# chromium (the drill test opens the HTML report in headless Chromium), and VictoriaMetrics
# single-node with vmagent and vmalert (the scale-out test runs the shipped rules on them).
#
# They come from Debian's `prometheus`, `prometheus-alertmanager`, `chromium` and
# `victoria-metrics` packages. The script is
# idempotent: when every tool is already on PATH it does nothing. As root it runs
# `apt-get update` once and installs both packages without recommends, with service start-up
# blocked by a temporary policy-rc.d (exit 101). Any prometheus/alertmanager daemon that the
# package scripts started anyway is stopped afterwards, since the tests start their own on
# loopback ports. Daemons that were already running before the script are left alone.
#
# Prints one summary line on stdout. Exits non-zero when tools are still missing and CI=true;
# otherwise a missing tool is reported and the script exits 0 (tests needing it may skip
# outside CI).
set -euo pipefail

TOOLS=(prometheus promtool alertmanager amtool chromium)
PACKAGES=(prometheus prometheus-alertmanager chromium)
# --- VictoriaMetrics (scale-out test) ---
TOOLS+=(victoria-metrics vmagent vmalert)
PACKAGES+=(victoria-metrics)
# --- end VictoriaMetrics ---
PREFIX="install-tools:"

missing_tools() {
    local tool out=()
    for tool in "${TOOLS[@]}"; do
        command -v "$tool" >/dev/null 2>&1 || out+=("$tool")
    done
    echo "${out[*]:-}"
}

# Debian ships the Alertmanager server as /usr/bin/prometheus-alertmanager; give it the
# upstream name too (only as root, only when that name is free).
alias_alertmanager() {
    if ! command -v alertmanager >/dev/null 2>&1 \
        && [ -x /usr/bin/prometheus-alertmanager ] && [ "$(id -u)" -eq 0 ]; then
        ln -sf /usr/bin/prometheus-alertmanager /usr/local/bin/alertmanager
    fi
}

tool_version() {
    # The first dotted version number `<tool> --version` prints ("prometheus, version 2.42.0
    # (...)", "Chromium 120.0.6099.224 built on Debian ..."); Debian's chromium wrapper may print
    # a shell warning before it.
    { "$1" --version 2>&1 || true; } | grep -oE '[0-9]+(\.[0-9]+)+' | head -n 1 || true
}

versions_summary() {
    local tool summary=""
    for tool in "${TOOLS[@]}"; do
        summary+="${summary:+, }$tool $(tool_version "$tool")"
    done
    echo "$summary"
}

fail_or_warn() {
    # $1: message. Non-zero exit under CI=true, a warning otherwise.
    if [ "${CI:-}" = "true" ]; then
        echo "$PREFIX ERROR: $1" >&2
        exit 1
    fi
    echo "$PREFIX WARNING: $1 (tests that need them will skip outside CI)"
    exit 0
}

# PIDs of running processes whose executable is one of the packaged daemons.
daemon_pids() {
    local proc exe
    for proc in /proc/[0-9]*; do
        exe="$(readlink "$proc/exe" 2>/dev/null)" || continue
        case "$exe" in
            /usr/bin/prometheus | /usr/bin/prometheus-alertmanager | /usr/bin/victoria-metrics) echo "${proc#/proc/}" ;;
        esac
    done
}

alias_alertmanager
missing="$(missing_tools)"
if [ -z "$missing" ]; then
    echo "$PREFIX all tools already on PATH, nothing to do ($(versions_summary))"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    fail_or_warn "missing: $missing; run as root to install Debian packages ${PACKAGES[*]}"
fi
if ! command -v apt-get >/dev/null 2>&1; then
    fail_or_warn "missing: $missing; apt-get not found, install ${PACKAGES[*]} by other means"
fi

log="$(mktemp "${TMPDIR:-/tmp}/install-tools.XXXXXX.log")"
policy=/usr/sbin/policy-rc.d
policy_backup=""
restore_policy() {
    if [ -n "$policy_backup" ]; then
        mv -f "$policy_backup" "$policy"
    else
        rm -f "$policy"
    fi
}
if [ -e "$policy" ]; then
    policy_backup="$(mktemp "${policy}.install-tools.XXXXXX")"
    cp -p "$policy" "$policy_backup"
fi
trap restore_policy EXIT
printf '#!/bin/sh\n# written by scripts/install-tools.sh: start no services\nexit 101\n' >"$policy"
chmod 0755 "$policy"

before_pids=" $(daemon_pids | tr '\n' ' ') "

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
if ! { apt-get "${apt_opts[@]}" update \
    && apt-get "${apt_opts[@]}" install -y --no-install-recommends "${PACKAGES[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    fail_or_warn "apt-get failed installing ${PACKAGES[*]} (full log: $log)"
fi

# Stop whatever the package scripts started despite policy-rc.d: systemd units first (so they
# are not restarted), then any new daemon process by PID. Pre-existing daemons are kept.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl stop prometheus.service prometheus-alertmanager.service victoria-metrics.service >>"$log" 2>&1 || true
    systemctl disable prometheus.service prometheus-alertmanager.service victoria-metrics.service >>"$log" 2>&1 || true
fi
stopped=0
new_pids=()
for pid in $(daemon_pids); do
    case "$before_pids" in *" $pid "*) continue ;; esac
    new_pids+=("$pid")
done
if [ "${#new_pids[@]}" -gt 0 ]; then
    kill -TERM "${new_pids[@]}" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        alive=0
        for pid in "${new_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.5
    done
    kill -KILL "${new_pids[@]}" 2>/dev/null || true
    stopped="${#new_pids[@]}"
fi

alias_alertmanager
missing="$(missing_tools)"
if [ -n "$missing" ]; then
    fail_or_warn "installed ${PACKAGES[*]} but still missing: $missing (log: $log)"
fi
rm -f "$log"
echo "$PREFIX installed Debian packages ${PACKAGES[*]} ($(versions_summary)); services not started, $stopped stray daemon(s) stopped"
