// Package kv is subgate's persistent store: one bbolt file in the data dir
// holding what must survive a restart and is not in the config file.
//
// It keeps accounts added by `subgate import`/`login` or the admin UI, OAuth
// tokens rotated at run time (for config accounts too, so a restart never
// goes back to a refresh token that was already spent), the scheduler's
// health and sticky-session snapshot, and the usage ledger. kv implements
// the small interfaces its consumers declare, sched.StateStore and
// ledger.Store, and imports those packages only for their record types.
//
// # The models
//
// Account and Key (model.go) are subgate's one account model and one key
// model: config [[accounts]] and [[keys]] decode into them (toml tags),
// the CLI and the admin UI build them, this package stores them (json
// tags, below), and sched and proxy take narrow runtime views of them
// (Account.Sched here, the proxy's in package main). Each has one
// Validate, returning errors.Join of *FieldError named as TOML and JSON
// name the field; callers add what only they know (config: unique names
// and secrets; the admin API: names that fit a URL). The store does not
// call Validate: it keeps what it is given, so older or partial values
// still load. Account.Redacted is the one view of an account without its
// secrets. FromConfig marks a value of the config file and is never
// stored. Time wraps time.Time so that TOML reads "" as no time while the
// stored JSON stays as time.Time wrote it.
//
// # Buckets and keys
//
//	meta      string key → string value. "schema_version" holds SchemaVersion
//	          in decimal; "master_key_check", present only when credentials
//	          are encrypted, a known text sealed under the master key; other
//	          keys are free for callers (PutMeta).
//	accounts  account name → JSON Account plus {"v":1}; credentials sealed.
//	tokens    account name → JSON Token plus {"v":1}; credentials sealed.
//	state     empty since the scheduler's state moved to the two buckets
//	          below; "sched" → JSON sched.Snapshot plus {"v":1} as older
//	          subgates wrote it, moved by the first LoadState.
//	sched_health    account name → JSON sched.Health plus {"v":1}.
//	sched_bindings  uvarint length of the group ‖ group ‖ hex session →
//	          JSON sched.Binding plus {"v":1}; SaveChanges upserts and
//	          deletes single records.
//	ledger    8-byte big-endian unix-nano of Record.Time ‖ 8-byte big-endian
//	          bucket NextSequence → format byte ‖ record. Format 2 (written
//	          since schema 2) is binary: flags, length-prefixed strings,
//	          varints (appendRecord); Time is the key's first half. Format 1,
//	          compact JSON ledger.Record, is still read.
//	rollups   8-byte big-endian unix seconds of the UTC hour ‖ key ‖ 0x00 ‖
//	          account ‖ 0x00 ‖ model → 0x01 ‖ ten varints (ledger.Counts).
//	keys      key name → JSON Key plus {"v":1}; the secret's sha256 only.
//	identity  account name → {"v":1,"identity":doc}: proxy/identity's
//	          per-account client identity, an opaque JSON document here.
//	error_rules  "rules" → {"v":1,"rules":doc}: the error rules added in
//	          the admin UI, webui's JSON list (opaque here), replaced whole.
//
// Ledger keys sort by time, and records with the same nanosecond by append
// order, so a time range is one Seek and a forward walk, the newest
// records are a backward walk from the last key, and pruning deletes from
// the front. Rollup keys sort by hour, so a dashboard range is one Seek.
// The leading byte of a value names its encoding; encodeRecord and
// decodeRecord, and encodeCounts and decodeCounts, are the only code that
// knows them.
//
// # Credentials at rest
//
// With Options.MasterKey, the credential fields (an account's APIKey,
// AccessToken, RefreshToken and IDToken; a token's AccessToken,
// RefreshToken and IDToken) are stored as "enc:v1:" followed by unpadded
// standard base64 of nonce ‖ AES-256-GCM ciphertext ‖ tag. The associated
// data is bucket, key and field name, so a ciphertext copied to another
// account or field does not open. A value without the prefix is plaintext,
// so one file can hold both. The sealing happens in putAccount, SaveToken
// and the decoders, nowhere else; callers only ever see plaintext.
//
// The key check value in meta decides at Open: a key meeting a file
// without one stores it and encrypts every plaintext credential in the
// same transaction; no key meeting a file with one is ErrNoMasterKey; a
// key that does not open it is ErrWrongMasterKey. RotateKey rewrites every
// credential and the check value in one transaction.
//
// # Invariants
//
//   - Open creates every bucket in one transaction, after checking the
//     schema version; store methods assume the buckets exist.
//   - Nothing returned to a caller aliases transaction memory: values are
//     decoded (json.Unmarshal copies) or copied inside the transaction.
//   - Read transactions are short. Scan reads in chunks and calls its
//     callback outside any transaction; no method holds a transaction while
//     calling out, except WriteTo, whose whole purpose is a consistent copy.
//   - Each exported method is one transaction, so SaveToken's update of the
//     token and of a stored account's credentials is atomic, and Append
//     commits a whole batch and its rollup deltas or nothing: rollups never
//     disagree with the committed records. A rollup merge is read, add,
//     write inside that transaction.
//   - Rollups are never deleted; DeleteBefore removes raw records only, at
//     most max per transaction so the single writer is never held long.
//   - No two stored keys share a hash.
//   - The file's mode is 0600: it holds refresh tokens and API keys.
//   - With a master key, no credential is written in plaintext, and a file
//     with a key check value never gets a plaintext credential.
//
// # Caveats
//
//   - bbolt takes an exclusive flock on the file; a second subgate on the
//     same data dir waits one second and then fails with ErrLocked. The
//     lock is per open file, so a second Open in the same process fails too.
//   - A read-only bbolt open takes a shared flock, which the exclusive one
//     excludes, so Snapshot (the offline backup) fails with ErrLocked while
//     a server runs; the server's WriteTo is the online backup. Restore and
//     Compact hold the old file's lock while they rename a new file over
//     the path; an Open that was waiting for that lock notices the path
//     now names another file and opens that one instead.
//   - bbolt does not clear freed pages: after a key is first configured
//     (or rotated, or removed), the old plaintext or ciphertext stays in
//     free pages, and in WriteTo copies, until reused. Compact writes a
//     file without them.
//   - Every Update is an fsync. Callers batch: the ledger group-commits
//     records through one writer goroutine, and the scheduler debounces
//     snapshots. Never call Append once per request on the hot path.
//   - bbolt files do not shrink. Deleted ledger records free pages for
//     reuse, but the file stays at its high-water mark; Compact rewrites
//     it. A WriteTo copy holds every page below the high-water mark,
//     free ones included; it drops only the preallocated tail. A fresh bbolt file is at least 32 KiB, so compacting a tiny
//     database can make it larger.
//   - A long read transaction (a slow WriteTo reader, say) keeps freed pages
//     from being reused while it lasts, so writes during it grow the file.
//   - Ledger times outside 1970–2262 are clamped to those ends in the key,
//     and a binary record's Time is read from the key, in UTC: such a
//     record reads back with the clamped time.
//   - Schema 2's migration backfills rollups from every stored record in
//     the one Open transaction; a large version-1 ledger makes that first
//     Open slow.
//   - Opening a file with a higher schema version fails with ErrTooNew and
//     leaves the file untouched; an older one is migrated in place by the
//     migrations list, in the same transaction that creates the buckets.
package kv
