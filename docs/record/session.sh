#!/usr/bin/env bash
# The README walkthrough's commands; record.sh sets up where they run.
set -u
cd "${REC_ROOT:?run docs/record/record.sh}"
export PATH="$REC_ROOT/bin:$PATH"
show() {
  echo '```console'
  echo "\$ $1"
  bash -c "$1" 2>&1
  rc=$?
  [ $rc -ne 0 ] && echo "[exit code $rc]"
  echo '```'
  echo
}
show "kitaru secrets set openai-creds --OPENAI_API_KEY=sk-proj-Xd81mQ2vT9LwK4"
show "kitaru model register fast --model openai/gpt-4o-mini --secret openai-creds"
show "kitaru model list"
show "kitaru run examples/llm_writer.yaml --input topic='durable execution'"
show "kitaru executions get last"
show "kitaru replay last --from draft"
show "kitaru secrets set anthropic-creds --ANTHROPIC_API_KEY=sk-ant-api03-Qm7Ze1"
show "kitaru model register fast --model anthropic/claude-haiku-5-5 --secret anthropic-creds"
show "kitaru replay last --from draft"
show "kitaru executions list"
show "kitaru executions get last"
show "kitaru run examples/replay_with_overrides.yaml"
show "kitaru replay last --from write_draft --override research='Edited notes'"
cp examples/failure.yaml "$HOME/deploy.yaml"
show "kitaru run ~/deploy.yaml --input break_deploy=true"
show "sed -i 's/exit 2/exit 0/' ~/deploy.yaml && kitaru retry last --flow ~/deploy.yaml"
show "kitaru secrets list"
show "kitaru status"
