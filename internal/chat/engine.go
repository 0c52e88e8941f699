package chat

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/audit"
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
	// History holds the conversation's latest stored messages, oldest
	// first; the last visitor message is the one to answer.
	History []store.Message
}

// LastVisitorText returns the text of the history's newest visitor
// message: the one the turn answers.
func (in TurnInput) LastVisitorText() string {
	for i := len(in.History) - 1; i >= 0; i-- {
		if m := in.History[i]; m.Role == store.RoleVisitor {
			return m.Text
		}
	}
	return ""
}

// TurnEngine produces the assistant's reply to a conversation. Stream calls
// emit with each piece of text as it is produced, in order, and returns when
// the reply is complete. It must stop promptly when ctx ends (the visitor
// canceled, a follow-up arrived or the server is shutting down); an error
// from emit means the same.
//
// Stream returns what the turn leaves to be stored with its end, also when
// it fails or is canceled (tokens spent are spent): the chat service writes
// it in the transaction that stores the reply and the turn's end.
type TurnEngine interface {
	Stream(ctx context.Context, in TurnInput, emit func(text string) error) (TurnRecord, error)
}

// TurnRecord is what a turn engine hands back to be stored with the turn's
// end, so a turn is one write at its end, not one per record.
type TurnRecord struct {
	// Usage is what the model spent; nil when no model was asked.
	Usage *store.TokenUsage
	// Decisions are audit entries of the turn that need not be written
	// the moment they happen (the knowledge looked up, the reply's
	// citations). What changes something outside the conversation (a tool
	// that reached a business's system, a hand-off) is recorded at once.
	Decisions []audit.Entry
}

// EchoEngine is the built-in turn until the assistant lands: it
// acknowledges the visitor's last message, word by word, Delay apart, so the
// streaming path is exercised for real.
type EchoEngine struct {
	Delay time.Duration
}

// Stream implements TurnEngine.
func (e EchoEngine) Stream(ctx context.Context, in TurnInput, emit func(string) error) (TurnRecord, error) {
	last := in.LastVisitorText()
	reply := "Thanks for your message. You said: " + last
	words := strings.SplitAfter(reply, " ")
	for i, w := range words {
		if i > 0 && e.Delay > 0 {
			t := time.NewTimer(e.Delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return TurnRecord{}, ctx.Err()
			case <-t.C:
			}
		}
		if err := ctx.Err(); err != nil {
			return TurnRecord{}, err
		}
		if err := emit(w); err != nil {
			return TurnRecord{}, err
		}
	}
	return TurnRecord{}, nil
}
