package assistant

import (
	"github.com/porthole-chat/porthole/internal/assistant/llm"
	"github.com/porthole-chat/porthole/internal/store"
)

// DefaultHistoryTokens is the history budget of a chatbot that sets none.
const DefaultHistoryTokens = 2000

// estimateTokens approximates a text's token count as its bytes / 4 (the
// usual rule of thumb for English with BPE tokenizers), plus 4 for the
// message's framing. It errs on the high side for other scripts, which only
// trims history sooner.
func estimateTokens(text string) int { return (len(text)+3)/4 + 4 }

// historyMessages turns the conversation's stored messages into the
// model's messages, newest kept first until budget tokens are spent. The
// last visitor message is always kept. System notes (offline note, thank
// you) are not sent: they are the product speaking, not the conversation.
// Agent messages are sent as the assistant's side. The window is chosen
// first and the result allocated once: a turn's history is up to 50
// messages and most of it may not fit.
func historyMessages(history []store.Message, budget int) []llm.Message {
	if budget <= 0 {
		budget = DefaultHistoryTokens
	}
	// The newest visitor message: trailing assistant text after it is
	// dropped, since the reply being written answers that message.
	last := -1
	for i := len(history) - 1; i >= 0; i-- {
		if r, ok := modelRole(history[i]); ok && r == llm.RoleUser {
			last = i
			break
		}
	}
	if last < 0 {
		return nil
	}
	spent := estimateTokens(history[last].Text)
	start := last
	for i := last - 1; i >= 0; i-- {
		if _, ok := modelRole(history[i]); !ok {
			continue
		}
		cost := estimateTokens(history[i].Text)
		if spent+cost > budget {
			break
		}
		spent += cost
		start = i
	}
	// Providers expect the conversation to open with the visitor.
	for start < last {
		if r, ok := modelRole(history[start]); ok && r == llm.RoleUser {
			break
		}
		start++
	}
	n := 0
	for _, m := range history[start : last+1] {
		if _, ok := modelRole(m); ok {
			n++
		}
	}
	msgs := make([]llm.Message, 0, n)
	for _, m := range history[start : last+1] {
		if r, ok := modelRole(m); ok {
			msgs = append(msgs, llm.Message{Role: r, Text: m.Text})
		}
	}
	return msgs
}

// modelRole says which side of the model's conversation a stored message
// is on, and whether it is sent at all.
func modelRole(m store.Message) (llm.Role, bool) {
	if m.Text == "" {
		return "", false
	}
	switch m.Role {
	case store.RoleVisitor:
		return llm.RoleUser, true
	case store.RoleAssistant, store.RoleAgent:
		return llm.RoleAssistant, true
	}
	return "", false
}
