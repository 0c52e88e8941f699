// Package assistant is the assistant's turn: it answers a visitor message
// with the chatbot's configured model (internal/assistant/llm), from the
// chatbot's own knowledge, with the tools the chatbot was given, within its
// budgets. Engine implements chat.TurnEngine.
//
// It owns retrieval for a turn (in the chatbot's namespace only), prompt
// assembly (system prompt, passages as untrusted data, history trimmed to a
// token budget), the tool loop (contact details, hand-off, knowledge
// search, business HTTP tools), cost control and the audit entries of
// lookups and tool calls.
//
// It must never execute a tool the chatbot was not given, whatever the
// model asks; never reach a business tool's URL except through
// internal/fetch; never put a key or secret in a log, an error or the Wake;
// and never import net/http.
package assistant
