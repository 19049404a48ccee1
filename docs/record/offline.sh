#!/usr/bin/env bash
# Re-records docs/walkthrough.md, the first offline session: builds kitaru
# and a small pseudo-terminal recorder (pty.go), makes a throwaway home, and
# fills walkthrough.tmpl.md (fill.sh) in a clean environment: no API key, no
# KITARU_* variable, and the D-Bus session bus turned off so no keyring is
# reachable. The home is shown as ~. Needs only bash and Go.
# Usage: docs/record/offline.sh > docs/walkthrough.md
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# The walkthrough being rewritten (by the redirect below) does not make the
# build dirty; any other change does.
version=$(git -C "$root" describe --tags --always 2>/dev/null || echo dev)
if [ "$version" != dev ] && [ -n "$(git -C "$root" status --porcelain --untracked-files=no -- . ':!docs/walkthrough.md')" ]; then
  version=$version-dirty
fi
make -C "$root" -s build VERSION="$version" >&2
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/bin"
(cd "$root" && go build -o "$home/bin/pty" docs/record/pty.go) >&2
# Only what the session needs survives env -i; the build above used the
# caller's Go environment.
env -i \
  HOME="$home" \
  PATH="$root/bin:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 TERM=xterm-256color ${TZ:+TZ="$TZ"} \
  DBUS_SESSION_BUS_ADDRESS=disabled: REC_ROOT="$root" REC_PTY="$home/bin/pty" \
  bash "$here/fill.sh" "$here/walkthrough.tmpl.md" |
  sed "s|$home|~|g"
