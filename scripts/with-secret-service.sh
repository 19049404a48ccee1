#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked
# gnome-keyring, so keyring tests talk to a real Secret Service.
# KITARU_TEST_SECRET_SERVICE=1 tells those tests the service is there.
set -euo pipefail
if ! command -v dbus-run-session >/dev/null || ! command -v gnome-keyring-daemon >/dev/null; then
  if [ -n "${CI:-}" ]; then
    echo "with-secret-service: dbus-run-session and gnome-keyring-daemon are required in CI" >&2
    exit 1
  fi
  echo "with-secret-service: skipping the Secret Service tests: install them with" >&2
  echo "  apt-get install -y --no-install-recommends gnome-keyring libsecret-tools dbus" >&2
  exit 0
fi
mkdir -p "${HOME:?HOME must be set}"
# A throwaway keyring home, so tests never touch the user's own keyring.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" XDG_RUNTIME_DIR="$tmp/run"
mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
export KITARU_TEST_SECRET_SERVICE=1
exec dbus-run-session -- sh -c 'echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@"' sh "$@"
