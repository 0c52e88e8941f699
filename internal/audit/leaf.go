package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"

	"golang.org/x/mod/sumdb/tlog"
)

// Domain tags keep a leaf, a payload commitment and any other hash of this
// package from ever being confused with one another.
const (
	leafDomain       = "porthole/audit/leaf/v1\x00"
	commitmentDomain = "porthole/audit/payload/v1\x00"
	fieldsDomain     = "porthole/audit/fields/v1\x00"
)

// PayloadCommitment returns SHA-256(commitmentDomain || salt || payload).
// The salt has a fixed size (32 bytes), so the boundary between salt and
// payload is unambiguous. Without the salt, a purged payload cannot be
// confirmed by guessing, even when its possible values are few.
func PayloadCommitment(salt, payload []byte) tlog.Hash {
	h := sha256.New()
	h.Write([]byte(commitmentDomain))
	h.Write(salt)
	h.Write(payload)
	var c tlog.Hash
	h.Sum(c[:0])
	return c
}

// EncodeLeaf appends the canonical leaf encoding of e to dst and returns it.
//
// The encoding (version 1) is binary and length-prefixed, in two levels:
//
//	leaf          = "porthole/audit/leaf/v1" 0x00
//	                str(OrgID) u64(Seq) i64(Time in Unix milliseconds)
//	                fields_digest (32 bytes)
//	fields_digest = SHA-256("porthole/audit/fields/v1" 0x00
//	                str(Actor.Kind) str(Actor.ID) str(ConversationID)
//	                str(Action) str(Target) str(Reason) Commitment)
//
// where str(s) is u32(len(s)) followed by the bytes of s and every integer is
// big-endian. The organization and the sequence number are inside the leaf,
// so an entry cannot be moved to another log or another position; the
// payload is covered only through its commitment, so purging it leaves the
// leaf unchanged. The two levels let a bundle prove where a time range
// starts and ends with the neighbouring entries' seq, time and digest alone,
// without disclosing what those entries say.
func EncodeLeaf(dst []byte, e *Entry) []byte {
	start := len(dst)
	dst = appendFields(dst, e)
	digest := sha256.Sum256(dst[start:])
	return appendLeafHead(dst[:start], e.OrgID, e.Seq, e.Time.UnixMilli(), digest)
}

// FieldsDigest returns the fields_digest of e (see EncodeLeaf).
func FieldsDigest(e *Entry) tlog.Hash {
	return sha256.Sum256(appendFields(nil, e))
}

func appendFields(dst []byte, e *Entry) []byte {
	dst = append(dst, fieldsDomain...)
	dst = appendLeafString(dst, string(e.Actor.Kind))
	dst = appendLeafString(dst, e.Actor.ID)
	dst = appendLeafString(dst, e.ConversationID)
	dst = appendLeafString(dst, e.Action)
	dst = appendLeafString(dst, e.Target)
	dst = appendLeafString(dst, e.Reason)
	return append(dst, e.Commitment[:]...)
}

func appendLeafHead(dst []byte, orgID string, seq, unixMilli int64, digest tlog.Hash) []byte {
	dst = append(dst, leafDomain...)
	dst = appendLeafString(dst, orgID)
	dst = binary.BigEndian.AppendUint64(dst, uint64(seq))
	dst = binary.BigEndian.AppendUint64(dst, uint64(unixMilli))
	return append(dst, digest[:]...)
}

func appendLeafString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// LeafHash returns the record hash of e's leaf: tlog.RecordHash(EncodeLeaf(e)).
func LeafHash(e *Entry) tlog.Hash {
	return tlog.RecordHash(EncodeLeaf(nil, e))
}

// leafHasher computes leaf hashes without allocating: it keeps one buffer
// that starts with RFC 6962's 0x00 leaf prefix, which is exactly what
// tlog.RecordHash hashes.
type leafHasher struct {
	buf     []byte
	payload bytes.Buffer // scratch for canonicalPayload
}

func (lh *leafHasher) hash(e *Entry) tlog.Hash {
	lh.buf = EncodeLeaf(append(lh.buf[:0], 0x00), e)
	return sha256.Sum256(lh.buf)
}

// hashHead is the record hash of a leaf given its head and fields digest.
func (lh *leafHasher) hashHead(orgID string, seq, unixMilli int64, digest tlog.Hash) tlog.Hash {
	lh.buf = appendLeafHead(append(lh.buf[:0], 0x00), orgID, seq, unixMilli, digest)
	return sha256.Sum256(lh.buf)
}

// commit is PayloadCommitment into a reusable buffer.
func (lh *leafHasher) commit(salt, payload []byte) tlog.Hash {
	lh.buf = append(append(append(lh.buf[:0], commitmentDomain...), salt...), payload...)
	return sha256.Sum256(lh.buf)
}
