// Package secrets keeps per-tenant secrets (AI provider keys, webhook
// secrets, channel secrets) encrypted at rest with an AES-256-GCM envelope.
//
// # Keys
//
// The operator provides one or more master keys (key-encryption keys) in a
// [Keyring], from a file or an environment variable, one key per line:
//
//	# comments and blank lines are ignored
//	ID:BASE64
//
// ID is 1 to 64 characters from [A-Za-z0-9._-]; BASE64 is the standard
// base64 encoding (with padding) of exactly 32 random bytes. The first key is
// the primary: it wraps new data keys. Every key in the ring can unwrap.
// With the embedded default (SQLite in the data dir) and no key given, the
// key file is generated in the data dir with mode 0600 on first start
// ([LoadOrGenerateKeyringFile]); it is never rewritten afterwards.
//
// Each organization has one random 32-byte data key (DEK), created on the
// first [Vault.Seal] for that organization and stored wrapped by a master key
// through a [DataKeyStore]. The DEK of an organization never changes; rotation
// changes only the master key it is wrapped with.
//
// # Formats
//
// A wrapped data key ([WrappedKey].Ciphertext) is
//
//	0x01 | nonce (12 bytes) | AES-256-GCM(master key, DEK) (32 + 16 bytes)
//
// with associated data "porthole/dek/v1\x00" + orgID + "\x00" + masterKeyID,
// so a wrapped key copied to another organization, or relabelled with another
// master key id, does not unwrap.
//
// A sealed secret is
//
//	0x01 | nonce (12 bytes) | AES-256-GCM(DEK, plaintext) (len(plaintext) + 16 bytes)
//
// with associated data "porthole/secret/v1\x00" + orgID, so a ciphertext
// copied into another tenant's row fails to open there (it is also under
// another DEK). Nonces are random; with one DEK per organization the
// 2^32-messages-per-key bound of random 96-bit nonces is far away.
//
// # Rotating the master key without downtime
//
//  1. Generate a new key line ([NewMasterKeyLine], or 32 bytes from a
//     CSPRNG in base64) and add it as the FIRST line of the key file or
//     variable, keeping the old key below it.
//  2. Restart (or roll) every Porthole process so all of them hold both keys.
//     New data keys are now wrapped with the new key; existing ones still
//     unwrap with the old one, so nothing stops working.
//  3. Run the rotation ([Vault.Rotate]): it re-wraps every data key that is
//     not wrapped by the primary key, with a compare-and-swap per key, so it
//     may run while the service is serving and may be re-run at will.
//  4. When rotation reports nothing left to do, remove the old key line and
//     restart again. [CheckKeyringAvailable] refuses to start if a stored
//     data key still needs a key that is gone, so removing it too early is
//     caught at start-up rather than at the first decrypt.
//
// Secrets themselves are never re-encrypted: their DEK is unchanged.
//
// This package must never log, print or return key material or plaintext in
// an error; [Keyring] formats as its key ids only.
package secrets
