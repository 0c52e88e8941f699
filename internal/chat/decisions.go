package chat

import (
	"strings"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/store"
)

// Actions the conversation service records in the Wake beside the shared
// ones of package audit. Each entry is appended in the transaction of the
// event it explains (store.NewEvent.Audit), so a stored event and the
// decision behind it commit together.
const (
	// ActionTurn is the end of an assistant turn: done, canceled or error.
	ActionTurn = "assistant.turn"
	// ActionContactForm is an accepted offline contact form.
	ActionContactForm = "conversation.contact_form"
)

// Routing targets: who answers a visitor message.
const (
	RouteAssistant = "assistant"
	RouteOffline   = "offline"
)

// routingDecision explains who answers a visitor message. The visitor's
// text is not copied: the event holds it, and the entry names the event.
func routingDecision(sess *Session, settings store.WidgetSettings, online bool) *audit.Entry {
	e := &audit.Entry{Actor: audit.Actor{Kind: audit.ActorVisitor, ID: sess.Visitor.ID}, Action: audit.ActionRoutingDecision}
	payload := map[string]any{"chatbot_id": sess.ChatbotID, "time_zone": settings.TimeZone, "active_hours": len(settings.ActiveHours) > 0}
	switch {
	case !online:
		e.Target = RouteOffline
		e.Reason = "outside the chatbot's active hours: the offline note and the contact form answer (once per offline stretch)"
	case len(settings.ActiveHours) == 0:
		e.Target = RouteAssistant
		e.Reason = "the chatbot has no active hours, so it is always online: the assistant answers"
	default:
		e.Target = RouteAssistant
		e.Reason = "inside the chatbot's active hours: the assistant answers"
	}
	e.Payload = audit.Payload(payload)
	return e
}

// turnReasons say in words why a turn ended as it did. An engine error is
// logged, never recorded: its text may hold internal details.
var turnReasons = map[string]string{
	TurnDone:     "the assistant finished its reply",
	TurnCanceled: "the turn was canceled: the visitor stopped it, a follow-up message replaced it or the server shut down",
	TurnError:    "the turn failed; the server log has the error",
}

// turnEnd records the end of an assistant turn. Token usage is not known to
// the turn engines yet; the payload gains it when an engine reports it.
func turnEnd(sess *Session, turnID, status string, replyBytes int) *audit.Entry {
	return &audit.Entry{
		Actor:  audit.Actor{Kind: audit.ActorAssistant, ID: sess.ChatbotID},
		Action: ActionTurn, Target: "turn:" + turnID, Reason: turnReasons[status],
		Payload: audit.Payload(map[string]any{"turn_id": turnID, "status": status, "reply_bytes": replyBytes}),
	}
}

// contactFormSubmitted records an accepted contact form. Target and Reason
// hold no personal data: they outlive retention. The payload, which
// retention purges, names the fields given and holds the email address, the
// one value the business needs to answer; the name and message stay in the
// conversation.
func contactFormSubmitted(sess *Session, formID string, values map[string]string) *audit.Entry {
	var given []string
	for _, f := range contactFields {
		if strings.TrimSpace(values[f.Name]) != "" {
			given = append(given, f.Name)
		}
	}
	return &audit.Entry{
		Actor:  audit.Actor{Kind: audit.ActorVisitor, ID: sess.Visitor.ID},
		Action: ActionContactForm, Target: "form:" + formID,
		Reason:  "the visitor left contact details outside active hours",
		Payload: audit.Payload(map[string]any{"form_id": formID, "fields": given, "email": values["email"]}),
	}
}
