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
// you) and forms are not sent: they are the product speaking, not the
// conversation. Agent messages are sent as the assistant's side.
func historyMessages(history []store.Message, budget int) []llm.Message {
	if budget <= 0 {
		budget = DefaultHistoryTokens
	}
	var msgs []llm.Message
	for _, m := range history {
		if m.Text == "" {
			continue
		}
		switch m.Role {
		case store.RoleVisitor:
			msgs = append(msgs, llm.Message{Role: llm.RoleUser, Text: m.Text})
		case store.RoleAssistant, store.RoleAgent:
			msgs = append(msgs, llm.Message{Role: llm.RoleAssistant, Text: m.Text})
		}
	}
	// Drop trailing assistant text after the last visitor message: the
	// reply being written answers that message.
	last := -1
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == llm.RoleUser {
			last = i
			break
		}
	}
	if last < 0 {
		return nil
	}
	msgs = msgs[:last+1]
	spent := estimateTokens(msgs[last].Text)
	start := last
	for i := last - 1; i >= 0; i-- {
		cost := estimateTokens(msgs[i].Text)
		if spent+cost > budget {
			break
		}
		spent += cost
		start = i
	}
	msgs = msgs[start:]
	// Providers expect the conversation to open with the visitor.
	for len(msgs) > 1 && msgs[0].Role != llm.RoleUser {
		msgs = msgs[1:]
	}
	return msgs
}

// lastVisitorText returns the text of the newest visitor message.
func lastVisitorText(history []store.Message) string {
	for i := len(history) - 1; i >= 0; i-- {
		if m := history[i]; m.Role == store.RoleVisitor {
			return m.Text
		}
	}
	return ""
}
