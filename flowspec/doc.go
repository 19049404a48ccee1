// Decisions where the flow format (docs: shared spec flow-format.md) is
// silent, written down so that the engine, the CLI and users agree:
//
//   - `if` and `foreach` are expressions with or without ${{ }} (as in
//     GitHub Actions); text around a ${{ }} there is an error. `if` is
//     decided once for the whole step, so item and index are not defined in
//     it, nor in `foreach` itself; they are in every other field of a
//     foreach step. A condition that can be seen not to give a boolean (a
//     string input, a number) is a load error; nil counts as false.
//   - An input without `type` takes the type of its default, else string.
//     `default: null` makes an input optional without a value. Input names
//     are identifiers (inputs.x must work); step ids may also hold `-`,
//     read as steps["my-step"].output.
//   - `retry` merges field by field over defaults.retry, which merges over
//     the built-in {attempts: 1, backoff: 1s}. A timeout of 0 (unset) means
//     none. Durations are Go durations (90s, 2m, 1h30m), more than zero.
//     defaults.timeout does not apply to wait steps: a wait's own timeout
//     is how long a person has to answer.
//   - Every attempt of a step is paid for: a step's (and an item's) usage
//     and cost sum all its attempts, failed ones included (an llm answer
//     that `output: json` could not parse was still billed), and a step
//     that ran more than once lists each attempt in attempts_detail; what
//     earlier goes spent is kept across a retry and a stop (RunMeta's
//     earlier) and folded into the step's next record. Inside
//     one attempt, an llm call retries 429, 5xx and dropped connections
//     (4 tries) but never waits past the step's timeout, nor more than 2
//     minutes in all: a longer Retry-After fails the attempt at once, naming
//     it. An answer above 32 MiB fails the step without a retry.
//   - "The directory of the flow file" (where steps run, and what a
//     relative dir: starts from) is, for a path that is a link to the flow
//     file, the directory of the file the link leads to: the scripts and
//     data a flow names sit beside the file, wherever it is linked from.
//     A flow in a linked directory keeps the directory as written. A flow
//     read from stdin (`kitaru run -`, named <stdin> in errors) or a pipe
//     has no file: its steps run in the current directory.
//   - `needs` accepts one id or a list. A checkpoint `value` written as
//     YAML data (a number, a map) is kept as that data; ${{ }} inside such a
//     map is an error rather than silently literal.
//   - `output` is json or text (the default). A wait step's schema must be a
//     valid JSON Schema (draft 2020-12) that refers to no other document.
//   - `schema:` on an llm step (the spec's "Structured output") is any
//     JSON Schema that refers to no other document, checked at load. The
//     answer is parsed as JSON (one ```json fence around it is taken off,
//     as for `output: json` on an llm step; not on a run: step) and
//     validated; the output is the parsed value. A refused answer goes
//     back as the assistant's message, then a user message listing every
//     place it broke the schema (sorted by JSON pointer) and the schema,
//     up to schema_retries (0 to 10, default 2) more calls; then the step
//     fails naming the first pointer ("" is the whole value). Asking again
//     is not an attempt: a step's retry starts a new conversation. Every
//     call counts in usage and cost, and a step, item or attempt that made
//     more than one lists them in `turns` (usage, cost, duration, why its
//     answer was refused, pointer). output: text does not go with schema.
//     Providers get the schema natively: OpenAI-compatible ones as
//     response_format json_schema, strict only when the schema meets
//     strict mode's rules (every object lists all its properties in
//     required and sets additionalProperties: false); Anthropic as a
//     forced tool; Ollama as format. A schema whose top is not an object
//     goes to OpenAI and Anthropic as the property "answer" of one.
//   - `tools:` (the spec's "Tools and agent loops") and `schema:` go
//     together: the loop ends at an answer without tool calls, which is
//     then validated and, when refused, asked for again within the same
//     loop. Every model call of a step's conversation is a turn, the
//     first call, the calls of its tool loop and the calls asking again
//     for the schema alike: each counts in usage and cost, and max_turns
//     (1 to 10000, default 10, only with tools) bounds them all, asking
//     again included; schema_retries bounds, among them, the answers
//     refused. OpenAI-compatible providers get the tools beside
//     response_format; Anthropic gets the step's tools and the answer
//     tool, with tool_choice any (every turn calls tools, or answers
//     through the answer tool; an answer-tool call beside other calls is
//     dropped and the loop goes on), the answer tool named after the step
//     unless a tool has that name (then with _answer added). A record
//     (step, item, attempt) lists its conversation in `turns` when it
//     says more than the record's own fields (more than one call, a tool
//     call, a model of the list that gave no answer): each turn has its
//     model and alias, text, tool_calls (name, arguments, output or
//     error, duration_ms), error and pointer for an answer refused,
//     failed_models, usage, cost and duration. A step with tools or a
//     schema saves each turn and each tool call the moment it ends
//     (steps/ID/turns/, per item and per conversation), and resume (after
//     a stop, a kill, a spent budget) continues the conversation at the
//     first turn or call without a record: nothing recorded is called or
//     run again, and the step's usage and cost are the sum of its
//     recorded turns, a killed go's too. A failed attempt closes its
//     conversation (a record says so): the step's retry, and `kitaru
//     retry`, start a new one. A conversation whose first request is not
//     the one recorded (an upstream step's new output) starts anew too.
//     A tool's arguments are validated against its parameters before it
//     runs; a tool that fails (bad arguments, a command that exits
//     non-zero, an expression error, an unknown tool) sends its error to
//     the model as the result. The artifacts are prompt.json (the first
//     request), and response.txt and response-turnN.txt (what each call
//     wrote, when it wrote text); what later calls added (tool results, a
//     request to answer again) is in the turn records, which `kitaru
//     executions get RUN --step STEP` shows.
//     With cache:, a step with tools keeps the answer that ended its loop
//     under its first request (the tools are part of the key); a hit runs
//     no tool.
//   - `mcp:` (the spec's "Tools and agent loops") declares MCP servers,
//     reached through the official Go SDK: `command:` is a stdio server,
//     an argv list run without a shell in the flow's directory, with
//     kitaru's environment, its `env:` (plain text, not templates) and
//     the keys of its `secrets:` (as a checkpoint's; their values are
//     masked in what it returns and in its stderr, which goes to the run's
//     log line by line as "MCP server NAME: ..."); `url:` is a
//     streamable-HTTP server (no env or secrets). A server's name holds
//     letters, digits, - and single _ (at most 32). An llm step's tools:
//     names SERVER.TOOL or SERVER.*; loading checks the server and the
//     syntax only, as what a server serves is known once it runs. A
//     server starts the first time a step of the go at the run offers
//     its tools (it is asked for its tool list then) and is stopped when
//     the go ends (stdin closed, then SIGTERM, then killed); resume starts
//     it anew. A SERVER.TOOL it does not serve, or a server that cannot
//     start, fails the step, naming the server's tools or saying why. The
//     model is sent each MCP tool as SERVER__TOOL (what OpenAI and
//     Anthropic accept: [A-Za-z0-9_-], at most 64), or, when that does
//     not fit or is taken (a tool of tools: with that name), the name
//     made to fit with _ and 8 hex digits of a digest of the flow's name;
//     records name calls as the flow does (files.read_file). A call's
//     arguments are validated against the input schema the server listed
//     before they are sent; a failed validation, a tool error (isError)
//     or an error the server answers with goes back to the model. The
//     output is the call's structured content when it has some, else its
//     text parts joined by newlines (images, audio and resource links
//     named, not included). A server that dies or drops the connection
//     while a call runs fails the step (the call stays without a result,
//     so a resume makes it again); the step's later calls fail the same
//     way, and the next step to offer its tools (or the step's retry)
//     starts it again, the log saying so. MCP calls are recorded like other tool calls: a resumed loop
//     does not make a recorded call again. The fingerprint covers the
//     servers as declared and the tools named; the cache key also covers
//     what the servers listed of the tools offered (names, descriptions,
//     input schemas).
//   - `model:` (of a step, or defaults) may be a list, tried in order for
//     each model call: the next model is tried when one gives no answer
//     after its own HTTP retries. Every failure falls back (429, 5xx, a
//     timeout, an unreachable server; 401/403 and a missing key too, as
//     the next provider has its own key; 400, 404, 413 and 422 as well,
//     since another model may know the name or take a longer prompt, and
//     a refused request costs nothing) except a stop (Ctrl-C, the step's
//     timeout) and a spent budget. A step's model or list replaces the
//     whole of defaults.model; names in a list are distinct. Later calls
//     of the same conversation (asking again for a schema) start at the
//     model that answered. The record's model and alias are the model
//     that answered; a step with a list lists its calls in `turns` once a
//     model gave no answer, each with model, alias and failed_models
//     (model as written, error, duration, usage, cost). The step's retry
//     tries the whole list again; it is not retried when every model
//     refused the call for good. The fingerprint hashes the list (one
//     model hashes as before lists), and a replay runs a step again when
//     any model of its list resolves elsewhere now.
//   - `budget: {max_cost_usd, max_tokens}` at the top, and --max-cost,
//     --max-tokens on run, replay, resume and retry (each flag wins over
//     its field; resume and retry start from what the run recorded): once
//     the run's totals (every attempt and fallback try, and earlier goes
//     at the run; for a replay only what it spends itself, reused steps
//     costing nothing) reach a limit, no llm step or item starts and a
//     call a running step is about to make is refused, which stops that
//     step unrecorded (what it spent stays counted), as an interrupt
//     would. Calls in flight finish and are recorded, so a run can end a
//     little past its budget; steps that call no model still run. The run
//     ends failed with ending budget_exceeded (the figures in
//     ending.budget) when something was held back, and resume or retry
//     with a larger budget continues it without repeating finished steps
//     or items. A model without a known price counts no cost: only
//     max_tokens bounds it.
//   - `cache: true`, `false` or `{ttl: 24h}` (an llm step, or defaults;
//     a step's replaces the defaults' whole): the step (or each item)
//     takes the answer of a completed call of any earlier run whose
//     resolved request was the same, with no call and no cost. The key is
//     a SHA-256 of the resolved provider/model, the base URL its client is
//     given, and the whole request: messages as rendered, temperature,
//     max_tokens, schema (and its name, the step id), tools; not the alias
//     that named the model, nor headers or keys, so two aliases of one
//     model at one server share answers. With a model list the first
//     model's request is looked up; an answer is kept under the request
//     of the model that gave it. A step with a schema keeps the answer it
//     accepted (after any asking again), keyed by its first request; a
//     step whose answer was refused keeps nothing, nor does a mocked call.
//     ttl takes only answers younger than it. The cached answer is the one
//     the record holds, secrets masked. The step records as any other:
//     why is cached (run, step, item that made the call; in a replay,
//     though: why it ran), usage and cost zero, model the one that
//     answered then. --no-cache (run, replay, resume, retry; a run keeps
//     it for its later goes) takes nothing from the cache but still keeps
//     fresh answers. cache: is not part of the fingerprint: it does not
//     change what a step answers, so turning it on or off makes no replay
//     run a step again.
//   - Input strings from --input coerce: integers also from 1e3 or 5.0,
//     booleans from true/false/yes/no/on/off/1/0, lists and objects from
//     JSON or YAML flow syntax ([a, b]).
//   - The fingerprint covers everything that changes what a step does, with
//     defaults applied, including the ids it depends on; not its
//     description, comments, layout or position.
//   - `max_output` (a run: step, or defaults) bounds the stdout a command
//     may print: a size such as 512KiB, 16MiB (the default) or 256MiB (the
//     most: a step's output is held in memory while it is recorded, at its
//     peak about four times its size); K, M, G and KiB, MiB, GiB count in
//     1024s, kB, MB, GB in 1000s, a bare number is bytes. One byte more kills the command's process
//     group and fails the step ("printed more than 16MiB on stdout"), as
//     any failure, retried if retry says so. stderr has no cap: only its
//     last 64KiB is kept, and a failed command's error quotes its last 10
//     lines, each cut at 500 bytes, with control characters kept as
//     printed (the cli shows them as escapes on a terminal, below) and
//     only each byte that is not UTF-8 written as \xNN (\xff), since the
//     record is JSON text, which cannot hold it.
//   - log.txt takes each stream of each attempt up to max_output bytes
//     (the time and step prefixes count), each line cut at 64KiB; what
//     does not fit is counted in one closing line ("… N more bytes of
//     stdout not logged"). So a command that prints a flood of tiny lines
//     costs the log at most that much, not many times what it printed.
//   - A run: step's output must be UTF-8 text: records are JSON text,
//     which cannot hold other bytes, so the step fails saying where the
//     first one is; encode binary output (`| base64`) or write it to a
//     file. NUL and other controls are text and are kept exactly.
//   - Text that commands and models printed is shown on a terminal with
//     its control characters and escape sequences as visible escapes
//     (executions logs and get, run's output and errors, the live view);
//     piped, it is printed as recorded. --json escapes controls as JSON
//     does (and shows bytes that are not UTF-8 as U+FFFD).
//   - A run's own snapshot (replay, resume, retry) loads with Options.Lazy:
//     same structure checks, graph, order and fingerprints, but each
//     expression is type-checked and compiled when first evaluated, and
//     plain block-style YAML is read by a quick reader (yaml.v3 reads
//     anything else). validate and run always load fully with yaml.v3.
//   - Shell safety. Each ${{ }} of a run: command reaches sh as
//     ${KITARU_EXPR_n} (n counts the command's ${{ }} from 1), and kitaru
//     puts the value, formatted as any template formats it (text as it is,
//     maps and lists as JSON, nil as nothing), into the command's
//     environment under that name. A value is therefore never shell syntax,
//     whatever it holds, and behaves as "$VAR" does: kept whole in double
//     quotes and in an unquoted heredoc; split into words and globbed when
//     unquoted (quote it; kitaru adds no quotes); expanded inside $( ),
//     backticks and ${v:-…}. run: ${{ x }} alone runs the words of x as a
//     command without reading any syntax in them; to run a script held in
//     a value, write sh -c "${{ x }}" and trust it. The variables are always
//     set (set -u holds), are set after env: and secrets, so that nothing
//     overrides them, and env: may not use the prefix KITARU_EXPR_. env:,
//     stdin: and dir: take their values as they are.
//   - A ${{ }} where sh expands no variable is a load error at its line:col
//     that says how to write it: inside '…' or $'…', in the body of a
//     heredoc with a quoted delimiter (<<'EOF', <<"EOF", <<\EOF), right
//     after a backslash, or as a heredoc's delimiter. One in a comment is
//     allowed. kitaru reads the command the way sh does for this (quotes,
//     backslashes, $( ), $(( )), ${ }, backticks, heredocs, comments, and
//     bash's (( )), $[ ], [[ ]], let and subscripts) but does not parse it:
//     a construct it misreads can give a missed or a needless error, never
//     a value that runs in sh.
//   - The advice depends on the command. Text in single quotes given to
//     echo (or a heredoc given to cat) is text: the message suggests double
//     quotes (or an unquoted delimiter). Given to anything else it may be
//     that program's code (a jq filter, an awk or sed program, SQL, a
//     script), and a value spliced into code is code: the message says so
//     and shows how to pass the value as data (jq --arg v "${{ x }}" '…$v…',
//     awk -v v="${{ x }}", printf '%s' "${{ x }}", sh -c '…"$1"…' sh
//     "${{ x }}", query parameters; sed has none). kitaru keeps a value
//     out of the shell's syntax only: in double quotes or an unquoted
//     heredoc it is accepted wherever it stands, so awk "{ print
//     \"${{ x }}\" }" or python3 <<EOF with the value in the script is
//     injection into that program, which kitaru cannot see.
//   - A ${{ }} where the shell evaluates the value as arithmetic must give
//     a whole number (decimal or 0x hex, blanks around it allowed) when the
//     step runs, or the step fails before sh starts: bash evaluates the
//     names and array subscripts in such text recursively, so a value like
//     a[$(cmd)] runs cmd. Checked: inside $(( )); and, since sh is bash on
//     macOS, Fedora, RHEL and Arch, inside (( )) and for (( )), $[ ], the
//     arguments of let, an array subscript a[…] (in ${a[…]}, a[…]=, and,
//     needlessly, a glob such as f[…]), the offset and length of
//     ${v:off:len}, an operand of -eq -ne -lt -le -gt -ge in [[ ]] (quoted
//     or not), and a value assigned to a variable (n=${{ x }}) whose name
//     the command uses in any of those or declares integer (declare -i,
//     typeset -i, local -i). [ ] and test take only integers in bash and
//     dash and evaluate nothing, so they need no check. Not checked, since
//     kitaru reads names, not data flow: a value reaching arithmetic
//     through a function's arguments or set --, a second variable, read
//     or mapfile, a loop variable, a command's output or a compound
//     assignment a=([…]=v); and a value used as a
//     variable's name (${!v}, printf -v, read, declare, test -v, [[ -v ]],
//     declare -n), which bash also evaluates. Keep untrusted values out of
//     those, or make them numbers (int(...)) first. As a second line, in
//     a command with arithmetic syntax anywhere (arithSyntax: (( )), $[ ],
//     let, [[ ]], declarations, a[…], ${v:off}), a value holding an array
//     subscript with a command substitution (a[$(…)], a[`…`]) fails the
//     step whatever its place, since that is what makes bash run a
//     command from arithmetic and the path a value takes is not traced.
//   - A value holding a NUL byte, or longer than 131051 bytes (Linux keeps
//     each environment string under 128 KiB), fails the step; pass such data
//     through stdin:. All of a command's environment together must also fit
//     the system's limit (ARG_MAX; 2 MiB on most Linux).
//   - A step's fingerprint covers run: as written, not the script sh gets,
//     so replays of runs made before values became variables reuse their
//     steps. A run's own snapshot (Options.Lazy) that breaks the rules
//     above still loads; the step fails, with the positioned error, only
//     when it has to run.
//   - Bounds. A flow file may be at most MaxFileSize (8 MiB); Load reads
//     at most one byte more, so a device or an endless pipe is refused at
//     once. The file must be UTF-8 text: the first invalid byte, NUL or
//     control character YAML refuses is reported at its own line:col. A
//     step id may be at most MaxStepIDLength (128) characters, since it
//     names a directory. An expression may have at most 10,000 parts
//     (expr's nodes), be at most MaxExprLen (64 KiB) long and nest at
//     most MaxExprDepth (100) levels: brackets, unary - + ! not, and the
//     ternary, **, ^, let and if, which expr parses by nested calls, each
//     count until their bracket, argument or element ends (string
//     literals and comments do not count). Both are checked in one pass
//     before expr parses it, since its parser recurses per level before
//     it counts nodes, and a Go stack overflow cannot be recovered. YAML
//     flow collections ([ ] { }) nest at most 10,000 levels (yaml.v3's
//     bound); the quick reader of lazy loads gives anything deeper than
//     32 to yaml.v3. Load waits on a named pipe that has no writer; the
//     cli reads in a goroutine, so Ctrl-C or SIGTERM ends that wait (130).
//     One evaluation may build at most ExprMemoryLimit
//     (64 MiB), counted before it is allocated: text by its bytes, each
//     element of a list, range or map made by 16 bytes (map and filter
//     count 4 more per element, sortBy 2, groupBy 16, for what they box
//     and build), with repeat, replace, join, string, toJSON, upper,
//     lower, split, the base64 and JSON functions, keys, values, concat,
//     flatten, sort, reverse and + measured before they allocate (toJSON
//     of text is quoted in one allocation; of anything else it counts
//     eight times its text, what encoding/json allocates for it); a plain
//     read of scope data (${{ steps.x.output }}, ${{ item.f }}) is not
//     measured again; a result that would be longer than
//     that as text (the same long string in many list elements), and a
//     rendered template longer than that, fail the same way. Past the
//     bound the step fails with "${{ … }} would use more than 64MiB of
//     memory"; what is allocated on the way stays within about twice the
//     bound (the tests check three times). Evaluation time is not bounded
//     beyond that: loops over existing lists that allocate nothing.
//   - Graph edges point the way data flows: `a --> b` when b reads a or
//     needs it. A cycle is reported once, starting at its first step in the
//     file.
//   - Masking secrets. What a run records (log.txt and `executions logs`,
//     result.json, run.json, the journal, response.txt, and what it
//     prints) has each secret value replaced by ***: the values of a run:
//     step's `secrets:` in that step, and the provider key an llm step
//     sends (environment variable or linked secret) in that step, so a
//     server echoing the key puts nothing on disk, and in every step the
//     provider keys of kitaru's own environment (OPENAI_API_KEY, ...),
//     which every run: command inherits. Each value of at least 6
//     characters is masked whole, raw and as written inside a JSON string.
//     A credential made of parts is also masked in pieces: each line of a
//     multi-line value (a PEM key), trimmed of spaces, and, when the value
//     is a JSON object (a service-account file), each string inside it and
//     that string's lines (so `jq -r .private_key` prints no line of the
//     key). Such a fragment is masked on its own only when it is at least
//     16 characters, holds no whitespace, and is neither PEM armor
//     (-----BEGIN PRIVATE KEY-----) nor a URL; a string of several lines
//     is masked whole when one of its lines is. So a private_key_id, a
//     client_email or a line of base64 is masked wherever it appears, but
//     "service_account", the armor lines and the public auth_uri are not:
//     they are ordinary words, and masking them would rewrite other data.
//     A value a command prints in pieces is masked in the log as it
//     streams. Values shorter than 6 characters are not masked (masking
//     N=1 would turn every 1 of the output into ***): `kitaru secrets set`
//     warns, and the step's log names the key.
//     Masking changes the data: the next step receives *** where the
//     secret was, which is the point (the output is on disk); a step whose
//     output or error was masked records masked: true, and its log and
//     `executions get` say so. Not masked: a value otherwise transformed
//     on the way (base64, re-formatted JSON), and other environment
//     variables a run: command inherits from kitaru.
//   - Failure handling follows GitHub Actions. An `if` without a status
//     function implies success(): a step after a failure (of a dependency,
//     or of a step further up) is skipped with the reason dependency_failed
//     naming the failed step; failure() is true when a step upstream failed,
//     always() whatever became of them; either one (even negated:
//     !failure()) makes the if decide also after a failure or a skipped
//     dependency. Status functions exist only in `if`. A failed step frees
//     what follows it, so every step of a run that ends completed or failed
//     ends completed, failed or skipped; steps are left pending only by a
//     stop (cancel, interrupt, the budget) or behind an unanswered wait.
//     `continue_on_error: true` is per step, not in defaults (a blanket one
//     would hide every failure): the step's status reads failed and
//     steps.X.error its message ("" for a step that did not fail), but for
//     what follows it counts as completed (GitHub's outcome failure,
//     conclusion success): success() holds, failure() does not. A run whose
//     only failures were continued completes; its ending lists them
//     (ending.continued) and the step records say continued: true. A
//     cancel stops everything: always() steps do not run after it. retry
//     runs again the failures that were not continued and decides again
//     every recorded step after them (a failure() cleanup that ran, a step
//     skipped for the failure); continued failures are kept, as a
//     completed run's are. A replay reuses a continued failure like a
//     completion (replay --from the step to run it again);
//     continue_on_error is in the step's fingerprint, so adding or dropping
//     it makes a replay decide the step and what follows again. Validation
//     rejects a read of steps.X.error, or a comparison of steps.X.status
//     with "failed", where X can only have completed (X without
//     continue_on_error, read by a step whose if calls neither failure()
//     nor always(), or by the flow's output).

package flowspec
