package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/porthole-chat/porthole/internal/porthole"
	"golang.org/x/mod/sumdb/tlog"
)

// ActorKind says who did what an entry records.
type ActorKind string

// Actor kinds. The list is closed: the verifier refuses any other kind.
const (
	ActorVisitor   ActorKind = "visitor"
	ActorAssistant ActorKind = "assistant"
	ActorUser      ActorKind = "user"
	ActorAPIKey    ActorKind = "api_key"
	ActorSystem    ActorKind = "system"
)

// Valid reports whether k is one of the known actor kinds.
func (k ActorKind) Valid() bool {
	switch k {
	case ActorVisitor, ActorAssistant, ActorUser, ActorAPIKey, ActorSystem:
		return true
	}
	return false
}

// Actor is who caused an entry: a kind and, except for the system, an id
// (visitor id, user id, API key id, chatbot id for the assistant).
type Actor struct {
	Kind ActorKind
	ID   string
}

// Actions the product records. Action is free-form (a dotted token) so a
// service can be more precise, but these are the ones the issue names and
// the dashboard groups by.
const (
	ActionRoutingDecision = "routing.decision"
	ActionToolCall        = "assistant.tool_call"
	ActionKnowledgeLookup = "knowledge.lookup"
	ActionHandoff         = "conversation.handoff"
	ActionAgentReply      = "agent.reply"
	ActionSupervisor      = "supervisor.action"
	ActionExport          = "audit.export"
	ActionAdmin           = "admin.operation"
	// ActionSecurityPrefix is followed by a porthole.Sec* kind, e.g.
	// "security.bad_signature".
	ActionSecurityPrefix = "security."
)

// SystemOrgID is the log that receives entries with no organization, such as
// a refused CORS preflight before any tenant is known.
const SystemOrgID = "system"

// Caps on entry fields. They keep a bundle line well under the verifier's
// line limit and stop the log from becoming a file store.
const (
	MaxFieldBytes   = 4096
	MaxPayloadBytes = 256 << 10
	maxOrgIDBytes   = 128
	saltSize        = 32
)

// Entry is one record of the Wake.
//
// The leaf that goes into the Merkle tree (see EncodeLeaf) covers every field
// except Payload and Salt, which it covers only through Commitment. Purging
// deletes Payload and Salt and keeps Commitment, so the log still verifies
// and the purged content cannot be recovered or guessed.
type Entry struct {
	Seq            int64     // index in the organization's log, from 0
	Time           time.Time // UTC, millisecond precision, never before the previous entry's
	OrgID          string
	Actor          Actor
	ConversationID string // empty when the entry is not about a conversation
	Action         string
	Target         string // what was acted on: "chatbot:ID", a tool name, an origin, ...
	Reason         string // why, in words or a rule id
	// Payload is compact JSON ("null" when there is none); nil once purged.
	Payload json.RawMessage
	// Salt is 32 random bytes drawn at append; nil once purged.
	Salt []byte
	// Commitment is PayloadCommitment(Salt, Payload); it outlives a purge.
	Commitment tlog.Hash
	Purged     bool
}

// validOrgID reports whether id can name a log: it appears in the
// checkpoint's origin line, so it is a short token with no spaces or
// control characters.
func validOrgID(id string) bool {
	if id == "" || len(id) > maxOrgIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validAction reports whether a is a dotted lower-case token.
func validAction(a string) bool {
	if a == "" || len(a) > 128 {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// normalize checks the caller-supplied fields of e and puts them in the one
// form that is hashed: valid UTF-8 strings (invalid bytes become U+FFFD, so
// what is hashed is exactly what any JSON output shows), compact JSON
// payload. It leaves Seq, Time, Salt and Commitment to PrepareBatch.
func (e *Entry) normalize() error {
	if !validOrgID(e.OrgID) {
		return porthole.Errorf(porthole.EINVALID, "audit: invalid organization id %q", e.OrgID)
	}
	if !e.Actor.Kind.Valid() {
		return porthole.Errorf(porthole.EINVALID, "audit: invalid actor kind %q", e.Actor.Kind)
	}
	if !validAction(e.Action) {
		return porthole.Errorf(porthole.EINVALID, "audit: invalid action %q", e.Action)
	}
	for _, f := range []*string{&e.Actor.ID, &e.ConversationID, &e.Target, &e.Reason} {
		if len(*f) > MaxFieldBytes {
			return porthole.Errorf(porthole.ETOOLARGE, "audit: a field is over %d bytes", MaxFieldBytes)
		}
		if !utf8.ValidString(*f) {
			*f = strings.ToValidUTF8(*f, "\uFFFD")
		}
	}
	if len(bytes.TrimSpace(e.Payload)) == 0 {
		e.Payload = json.RawMessage("null")
	} else {
		var buf bytes.Buffer
		if err := json.Compact(&buf, e.Payload); err != nil {
			return porthole.WrapError(porthole.EINVALID, err, "audit: payload is not valid JSON")
		}
		e.Payload = escapeRawSeparators(buf.Bytes())
	}
	if len(e.Payload) > MaxPayloadBytes {
		return porthole.Errorf(porthole.ETOOLARGE, "audit: payload is over %d bytes", MaxPayloadBytes)
	}
	e.Purged = false
	return nil
}

// Payload encodes v as an entry payload. It is a convenience for callers
// that hold a map or a struct; a value that cannot be encoded yields a
// payload recording the error, so an audit write never fails for it.
func Payload(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"payload_error": err.Error()})
	}
	return b
}

// TimeMillis truncates t to the millisecond precision entries keep, in UTC.
func TimeMillis(t time.Time) time.Time {
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// escapeRawSeparators rewrites, in compact JSON, the characters JSON allows
// raw inside strings but that a terminal or a JavaScript parser treats
// specially: DEL and the line separators U+2028 and U+2029. Outside strings
// valid compact JSON has none of them, so a byte-level rewrite is safe.
func escapeRawSeparators(b []byte) []byte {
	if !bytes.ContainsRune(b, 0x7f) && !bytes.ContainsRune(b, '\u2028') && !bytes.ContainsRune(b, '\u2029') {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch r {
		case 0x7f:
			out = append(out, `\u007f`...)
		case '\u2028':
			out = append(out, `\u2028`...)
		case '\u2029':
			out = append(out, `\u2029`...)
		default:
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

// canonicalPayload reports whether p is a payload as normalize leaves it:
// valid compact JSON without raw DEL, U+2028 or U+2029. scratch is reused
// between calls to spare an allocation per entry.
func canonicalPayload(p []byte, scratch *bytes.Buffer) bool {
	scratch.Reset()
	if err := json.Compact(scratch, p); err != nil || !bytes.Equal(scratch.Bytes(), p) {
		return false
	}
	return !bytes.ContainsRune(p, 0x7f) && !bytes.ContainsRune(p, '\u2028') && !bytes.ContainsRune(p, '\u2029')
}
