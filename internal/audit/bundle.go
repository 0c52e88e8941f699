package audit

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// BundleVersion is the version of the bundle format written in headers.
const BundleVersion = 1

// Line types of a bundle.
const (
	lineHeader      = "header"
	lineCheckpoint  = "checkpoint"
	linePrefix      = "prefix"
	lineEntry       = "entry"
	lineBoundary    = "boundary"
	lineConsistency = "consistency"
	lineEnd         = "end"
)

// bundleTimeLayout is the one way times are written in a bundle: UTC,
// milliseconds, always three digits.
const bundleTimeLayout = "2006-01-02T15:04:05.000Z"

// maxLineBytes caps a bundle line: the biggest entry (six fields at
// MaxFieldBytes, each escaped up to six times, plus MaxPayloadBytes) fits.
const maxLineBytes = 6*6*MaxFieldBytes + MaxPayloadBytes + 4096

// bundleLine is every field of every line type. The verifier decodes a
// line into it and then re-encodes it with the writer below: a line is
// accepted only when the two are byte for byte equal, which refuses
// unknown, duplicate, missing and reordered fields, fields of another line
// type, and any escaping but the one canonical form.
type bundleLine struct {
	Type string `json:"type"`

	// header
	Version   int    `json:"version"`
	Org       string `json:"org"`
	PublicKey string `json:"public_key"`
	FirstSeq  int64  `json:"first_seq"`
	EndSeq    int64  `json:"end_seq"`
	Since     string `json:"since"`
	Until     string `json:"until"`
	Created   string `json:"created"`

	// checkpoint
	Note string `json:"note"`

	// prefix, consistency
	Size   int64    `json:"size"`
	Hashes []string `json:"hashes"`
	Proof  []string `json:"proof"`

	// entry
	Seq            int64           `json:"seq"`
	Time           string          `json:"time"`
	ActorKind      string          `json:"actor_kind"`
	ActorID        string          `json:"actor_id"`
	ConversationID string          `json:"conversation_id"`
	Action         string          `json:"action"`
	Target         string          `json:"target"`
	Reason         string          `json:"reason"`
	Commitment     string          `json:"commitment"`
	Salt           string          `json:"salt"`
	Payload        json.RawMessage `json:"payload"`
	Purged         bool            `json:"purged"`
	LeafHash       string          `json:"leaf_hash"`

	// boundary (also seq and time)
	FieldsDigest string `json:"fields_digest"`

	// end
	Entries int64 `json:"entries"`
}

// appendLine appends the canonical encoding of l (by its Type) and a
// newline. Field order is fixed per type; see docs/audit.md.
func appendLine(dst []byte, l *bundleLine) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendJSONString(dst, l.Type)
	switch l.Type {
	case lineHeader:
		dst = append(dst, `,"version":`...)
		dst = strconv.AppendInt(dst, int64(l.Version), 10)
		dst = appendStringField(dst, "org", l.Org)
		dst = appendStringField(dst, "public_key", l.PublicKey)
		dst = appendIntField(dst, "first_seq", l.FirstSeq)
		dst = appendIntField(dst, "end_seq", l.EndSeq)
		dst = appendStringField(dst, "since", l.Since)
		dst = appendStringField(dst, "until", l.Until)
		dst = appendStringField(dst, "created", l.Created)
	case lineCheckpoint:
		dst = appendStringField(dst, "note", l.Note)
	case linePrefix:
		dst = appendIntField(dst, "size", l.Size)
		dst = appendStringsField(dst, "hashes", l.Hashes)
		dst = appendStringsField(dst, "proof", l.Proof)
	case lineEntry:
		dst = appendIntField(dst, "seq", l.Seq)
		dst = appendStringField(dst, "time", l.Time)
		dst = appendStringField(dst, "actor_kind", l.ActorKind)
		dst = appendStringField(dst, "actor_id", l.ActorID)
		dst = appendStringField(dst, "conversation_id", l.ConversationID)
		dst = appendStringField(dst, "action", l.Action)
		dst = appendStringField(dst, "target", l.Target)
		dst = appendStringField(dst, "reason", l.Reason)
		dst = appendStringField(dst, "commitment", l.Commitment)
		if l.Purged {
			dst = append(dst, `,"purged":true`...)
		} else {
			dst = appendStringField(dst, "salt", l.Salt)
			dst = append(dst, `,"payload":`...)
			dst = append(dst, l.Payload...) // compact JSON, checked at append and at verify
		}
		dst = appendStringField(dst, "leaf_hash", l.LeafHash)
	case lineBoundary:
		dst = appendIntField(dst, "seq", l.Seq)
		dst = appendStringField(dst, "time", l.Time)
		dst = appendStringField(dst, "fields_digest", l.FieldsDigest)
	case lineConsistency:
		dst = appendIntField(dst, "size", l.Size)
		dst = appendStringsField(dst, "proof", l.Proof)
	case lineEnd:
		dst = appendIntField(dst, "entries", l.Entries)
	}
	return append(dst, "}\n"...)
}

// entryLine fills l with e as an entry line.
func entryLine(l *bundleLine, e *Entry, leaf tlog.Hash) {
	*l = bundleLine{
		Type:           lineEntry,
		Seq:            e.Seq,
		Time:           e.Time.UTC().Format(bundleTimeLayout),
		ActorKind:      string(e.Actor.Kind),
		ActorID:        e.Actor.ID,
		ConversationID: e.ConversationID,
		Action:         e.Action,
		Target:         e.Target,
		Reason:         e.Reason,
		Commitment:     e.Commitment.String(),
		Purged:         e.Purged,
		LeafHash:       leaf.String(),
	}
	if !e.Purged {
		l.Salt = encodeBase64(e.Salt)
		l.Payload = e.Payload
	}
}

// boundaryLine fills l with the neighbour e of an exported time range:
// enough to place it in the tree and show its time, nothing of its content.
func boundaryLine(l *bundleLine, e *Entry) {
	*l = bundleLine{
		Type:         lineBoundary,
		Seq:          e.Seq,
		Time:         e.Time.UTC().Format(bundleTimeLayout),
		FieldsDigest: FieldsDigest(e).String(),
	}
}

func appendStringField(dst []byte, name, value string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return appendJSONString(dst, value)
}

func appendIntField(dst []byte, name string, value int64) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return strconv.AppendInt(dst, value, 10)
}

func appendStringsField(dst []byte, name string, values []string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':', '[')
	for i, v := range values {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, v)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Every control character
// (U+0000 to U+001F and U+007F), the quote, the backslash, and the line
// separators U+2028 and U+2029 are escaped, so no value can end a line or
// break out of its string in any output; invalid UTF-8 is written as
// U+FFFD, which is what a JSON decoder would read anyway.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x7f {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func formatBundleTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(bundleTimeLayout)
}

func hashStrings(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
