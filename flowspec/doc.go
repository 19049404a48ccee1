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
//   - `needs` accepts one id or a list. A checkpoint `value` written as
//     YAML data (a number, a map) is kept as that data; ${{ }} inside such a
//     map is an error rather than silently literal.
//   - `output` is json or text (the default). A wait step's schema must be a
//     valid JSON Schema (draft 2020-12) that refers to no other document.
//   - Input strings from --input coerce: integers also from 1e3 or 5.0,
//     booleans from true/false/yes/no/on/off/1/0, lists and objects from
//     JSON or YAML flow syntax ([a, b]).
//   - The fingerprint covers everything that changes what a step does, with
//     defaults applied, including the ids it depends on; not its
//     description, comments, layout or position.
//   - A run's own snapshot (replay, resume, retry) loads with Options.Lazy:
//     same structure checks, graph, order and fingerprints, but each
//     expression is type-checked and compiled when first evaluated, and
//     plain block-style YAML is read by a quick reader (yaml.v3 reads
//     anything else). validate and run always load fully with yaml.v3.
//   - Graph edges point the way data flows: `a --> b` when b reads a or
//     needs it. A cycle is reported once, starting at its first step in the
//     file.
//   - Masking secrets. What a run records (log.txt and `executions logs`,
//     result.json, run.json, the journal, response.txt, and what it
//     prints) has each secret value replaced by ***: the values of a run:
//     step's `secrets:` in that step, and the provider key an llm step
//     sends (environment variable or linked secret) in that step, so a
//     server echoing the key puts nothing on disk. A multi-line value (a
//     PEM key, a JSON credential) is masked whole and each of its lines,
//     trimmed of spaces, on its own, each also as written inside a JSON
//     string; a value a command prints in pieces is masked in the log as it
//     streams. Values shorter than 6 characters are not masked (masking
//     N=1 would turn every 1 of the output into ***): `kitaru secrets set`
//     warns, and the step's log names the key.
//     Masking changes the data: the next step receives *** where the
//     secret was, which is the point (the output is on disk); a step whose
//     output or error was masked records masked: true, and its log and
//     `executions get` say so. Not masked: a value otherwise transformed
//     on the way (base64, re-formatted JSON), and environment variables
//     that are not a step's secrets (a run: step inherits kitaru's
//     environment, provider keys included).

package flowspec
