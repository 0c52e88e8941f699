package chat

import (
	"encoding/json"

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
