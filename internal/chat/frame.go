package chat

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/porthole-chat/porthole/internal/store"
)

// Frame types the service publishes (server -> client, see
// docs/widget-protocol.md).
const (
	FrameMessage    = "message"
	FrameDelta      = "delta"
	FrameTurnEnd    = "turn_end"
	FrameForm       = "form"
	FrameFormResult = "form_result"
	FrameTyping     = "typing"
)

// Turn statuses of a turn_end.
const (
	TurnDone     = "done"
	TurnCanceled = "canceled"
	TurnError    = "error"
)

// FormField is one field of an inline form.
type FormField struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	Type     string `json:"type"` // text, email, tel, textarea
	Required bool   `json:"required"`
}

// Frame is one server-to-client event as it goes over pubsub and the
// socket. Frames with Seq > 0 are stored events; the others are live only.
type Frame struct {
	Type      string            `json:"type"`
	Seq       int64             `json:"seq,omitempty"`
	ID        string            `json:"id,omitempty"`
	Role      string            `json:"role,omitempty"`
	Text      string            `json:"text,omitempty"`
	ClientID  string            `json:"client_id,omitempty"`
	TurnID    string            `json:"turn_id,omitempty"`
	Status    string            `json:"status,omitempty"`
	FormID    string            `json:"form_id,omitempty"`
	Title     string            `json:"title,omitempty"`
	Fields    []FormField       `json:"fields,omitempty"`
	Errors    map[string]string `json:"errors,omitempty"`
	CreatedAt int64             `json:"created_at,omitempty"`
}

// eventData is the Data of stored turn_end, form and form_result events.
type eventData struct {
	Status string            `json:"status,omitempty"`
	FormID string            `json:"form_id,omitempty"`
	Title  string            `json:"title,omitempty"`
	Fields []FormField       `json:"fields,omitempty"`
	Values map[string]string `json:"values,omitempty"` // kept for agents; not sent to the widget
}

// FrameOf turns a stored event into the frame the widget receives.
func FrameOf(e store.Event) Frame {
	f := Frame{Type: e.Kind, Seq: e.Seq, TurnID: e.TurnID, CreatedAt: e.CreatedAt.UnixMilli()}
	var d eventData
	if len(e.Data) > 0 {
		_ = json.Unmarshal(e.Data, &d) // written by this package; a bad row shows as an empty frame
	}
	switch e.Kind {
	case store.EventMessage:
		f.ID, f.Role, f.Text, f.ClientID = e.ID, e.Role, e.Text, e.ClientID
	case store.EventTurnEnd:
		f.Status = d.Status
	case store.EventForm:
		f.FormID, f.Title, f.Fields = d.FormID, d.Title, d.Fields
	case store.EventFormResult:
		f.FormID, f.Status = d.FormID, d.Status
	}
	return f
}

// deltaHead is how every delta frame the service publishes begins (see
// appendDelta); IsDelta relies on it.
const deltaHead = `{"type":"delta"`

// IsDelta reports whether raw, a frame as the service publishes it, is a
// delta: a live piece of a reply, never stored, with no seq and no role.
// The widget relays those as they are without decoding them.
func IsDelta(raw []byte) bool {
	if len(raw) <= len(deltaHead) || string(raw[:len(deltaHead)]) != deltaHead {
		return false
	}
	next := raw[len(deltaHead)]
	return next == ',' || next == '}'
}

// appendDelta appends the delta frame of text in turnID, byte for byte what
// json.Marshal writes for Frame{Type: FrameDelta, Text: text, TurnID:
// turnID}. A reply streams one of these per token: built here it is one
// allocation of the frame's size, where json.Marshal costs its encoder and
// a copy (docs/benchmarks.md, "Assistant: overhead per streamed token").
func appendDelta(b []byte, turnID, text string) []byte {
	b = append(b, deltaHead...)
	if text != "" {
		b = append(b, `,"text":`...)
		b = appendJSONString(b, text)
	}
	if turnID != "" {
		b = append(b, `,"turn_id":`...)
		b = appendJSONString(b, turnID)
	}
	return append(b, '}')
}

// appendJSONString appends s as encoding/json writes a string: quoted,
// with <, > and & escaped for HTML, control characters escaped, invalid
// UTF-8 replaced by U+FFFD and U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
