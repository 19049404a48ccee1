#!/usr/bin/env bash
# Fills a walkthrough template (see walkthrough.tmpl.md) on stdout: prose is
# copied, each "$ command" line inside a console block is run in this shell
# (so an export holds for the commands after it) from the repository root,
# and its output follows it. offline.sh sets up where it runs.
set -u
tmpl=${1:?usage: fill.sh TEMPLATE}
cd "${REC_ROOT:?run docs/record/offline.sh}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
console=false tty=false
while IFS= read -r line || [ -n "$line" ]; do
  case $line in
  '<!-- record: tty -->') tty=true; continue ;;
  '<!-- record:'*) continue ;;
  '```console') console=true ;;
  '```') console=false ;;
  '$ '*)
    if $console; then
      echo "$line"
      cmd=${line#'$ '}
      if $tty; then
        # What a person sees: stdout and stderr on one 80x24 terminal.
        "$REC_PTY" -cols 80 -rows 24 -- bash -c "$cmd" >"$out" 2>&1 </dev/null
      else
        eval "$cmd" >"$out" 2>&1 </dev/null
      fi
      rc=$?
      tty=false
      # The recorder failing, or a command not found, is a broken session,
      # not something to print in the walkthrough.
      if [ $rc -eq 125 ] || [ $rc -eq 127 ]; then
        echo "fill.sh: \`$cmd\` could not be recorded (exit code $rc):" >&2
        cat "$out" >&2
        exit 1
      fi
      cat "$out"
      [ $rc -ne 0 ] && echo "[exit code $rc]"
      continue
    fi ;;
  esac
  echo "$line"
done <"$tmpl"
