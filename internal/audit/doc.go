// Package audit is "the Wake": Porthole's tamper-evident, append-only audit
// log that anyone can verify offline.
//
// It owns:
//   - the Entry type and its canonical leaf encoding (leaf.go), including the
//     salted payload commitment that lets retention purge a payload while the
//     log still verifies;
//   - the per-organization Merkle log built with golang.org/x/mod/sumdb/tlog
//     (tree.go) and the Log service that serializes and batches appends
//     (log.go);
//   - signed checkpoints, Ed25519 notes made with golang.org/x/mod/sumdb/note
//     (checkpoint.go), and the signing key kept in a file apart from the
//     database (signingkey.go);
//   - the export bundle, JSON lines, and its offline verifier (bundle.go,
//     export.go, verify.go).
//
// Storage is reached only through the Store interface; MemStore is the
// in-memory implementation used by tests and benchmarks, the SQL stores live
// in internal/store and call the same pure functions (PrepareBatch,
// EncodeLeaf, PayloadCommitment) so every implementation hashes alike.
//
// It must never: rewrite or delete an entry (only PurgePayloads, which keeps
// the commitment), store the signing key in the database, import net/http or
// a SQL driver, or write a value into any output without escaping it.
//
// The formats are documented for buyers in docs/audit.md; a change to the
// leaf encoding, the checkpoint text or the bundle lines is a new version.
package audit
