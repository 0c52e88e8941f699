package chat

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/store"
)

// TurnInput is what a turn engine sees of the conversation.
type TurnInput struct {
	OrgID          string
	ChatbotID      string
	ConversationID string
	VisitorID      string
	TurnID         string
	// ClientIP is the visitor's address as the transport saw it (through
	// the trusted proxies); the zero Addr when unknown. The assistant's
	// per-IP budget counts against it.
	ClientIP netip.Addr
	// History holds the conversation's latest stored events, oldest first;
	// the last visitor message is the one to answer.
	History []store.Event
}

// TurnEngine produces the assistant's reply to a conversation. Stream calls
// emit with each piece of text as it is produced, in order, and returns when
// the reply is complete. It must stop promptly when ctx ends (the visitor
// canceled, a follow-up arrived or the server is shutting down); an error
// from emit means the same.
type TurnEngine interface {
	Stream(ctx context.Context, in TurnInput, emit func(text string) error) error
}

// EchoEngine is the built-in turn until the assistant lands: it
// acknowledges the visitor's last message, word by word, Delay apart, so the
// streaming path is exercised for real.
type EchoEngine struct {
	Delay time.Duration
}

// Stream implements TurnEngine.
func (e EchoEngine) Stream(ctx context.Context, in TurnInput, emit func(string) error) error {
	last := ""
	for i := len(in.History) - 1; i >= 0; i-- {
		if ev := in.History[i]; ev.Kind == store.EventMessage && ev.Role == store.RoleVisitor {
			last = ev.Text
			break
		}
	}
	reply := "Thanks for your message. You said: " + last
	words := strings.SplitAfter(reply, " ")
	for i, w := range words {
		if i > 0 && e.Delay > 0 {
			t := time.NewTimer(e.Delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(w); err != nil {
			return err
		}
	}
	return nil
}
