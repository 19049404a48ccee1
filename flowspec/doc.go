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
//   - Bounds. A flow file may be at most MaxFileSize (8 MiB); Load reads
//     at most one byte more, so a device or an endless pipe is refused at
//     once. The file must be UTF-8 text: the first invalid byte, NUL or
//     control character YAML refuses is reported at its own line:col. A
//     step id may be at most MaxStepIDLength (128) characters, since it
//     names a directory. An expression may have at most 10,000 parts
//     (expr's nodes). One evaluation may build at most ExprMemoryLimit
//     (64 MiB), counted before it is allocated: text by its bytes, each
//     element of a list, range or map made by 16 bytes (map and filter
//     count 4 more per element, sortBy 2, groupBy 16, for what they box
//     and build), with repeat, replace, join, string, toJSON, upper,
//     lower, split, the base64 and JSON functions, keys, values and +
//     measured before they allocate; a result that would be longer than
//     that as text (the same long string in many list elements), and a
//     rendered template longer than that, fail the same way. Past the
//     bound the step fails with "${{ … }} would use more than 64 MiB of
//     memory"; what is allocated on the way stays within about twice the
//     bound (the tests check three times). Evaluation time is not bounded
//     beyond that: loops over existing lists that allocate nothing.
//   - Graph edges point the way data flows: `a --> b` when b reads a or
//     needs it. A cycle is reported once, starting at its first step in the
//     file.

package flowspec
