#!/usr/bin/env bash
# Re-records the README walkthrough: builds kitaru, starts a throwaway home,
# a private gnome-keyring and a local stand-in for the OpenAI and Anthropic
# APIs (standin.py, canned answers), runs session.sh and prints the
# transcript with the home shown as ~. Needs python3, dbus-run-session and
# gnome-keyring-daemon. Usage: docs/record/record.sh > /tmp/transcript.md
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
make -C "$root" -s build >&2
home=$(mktemp -d)
port=${PORT:-8787}
python3 "$here/standin.py" "$port" & srv=$!
trap 'kill $srv 2>/dev/null; rm -rf "$home"' EXIT
export HOME=$home XDG_DATA_HOME=$home/.local/share XDG_CONFIG_HOME=$home/.config XDG_RUNTIME_DIR=$home/run
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
unset KITARU_HOME KITARU_LLM_MOCK_RESPONSE KITARU_MODEL_REGISTRY KITARU_DEFAULT_MODEL OPENAI_API_KEY ANTHROPIC_API_KEY
export OPENAI_BASE_URL=http://127.0.0.1:$port/v1 ANTHROPIC_BASE_URL=http://127.0.0.1:$port
export REC_ROOT=$root
sleep 0.5
dbus-run-session -- sh -c 'echo -n walkthrough | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$0"' "$here/session.sh" 2>/dev/null |
  sed "s|$home|~|g"
