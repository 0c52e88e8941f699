// Package llm puts every language-model provider Porthole can talk to behind
// one streaming interface, [Provider]: any OpenAI-compatible server (OpenAI,
// Azure OpenAI, Ollama, vLLM, llama.cpp server) through the official
// openai-go SDK, Anthropic through the official anthropic-sdk-go, and a
// built-in extractive provider that needs no key and no network.
//
// A chatbot's settings become a [Config]; [NewProvider] turns it into a
// Provider. The provider's API key stays sealed (internal/secrets) inside the
// Provider and is opened only for the request that uses it.
//
// Every stream, whatever the provider, has the same shape: text deltas and
// complete tool calls in order, then one usage event, then one done event; or,
// at any point, one error event instead of the rest. The package owns the
// resilience around that: transient failures (connect errors, 429, 5xx) are
// retried with exponential backoff and jitter only before the first token
// arrived; a first-token timeout and an idle-between-chunks timeout turn a
// stalled upstream into an error event, so a caller never hangs; canceling
// the context closes the upstream connection.
//
// What it must never do: log, print or put an API key in an error; reach the
// network from the built-in provider; retry once any model output has been
// received (the visitor may already have seen it); read provider settings
// from the process environment (the SDKs' environment defaults are bypassed,
// so one tenant can never borrow the operator's OPENAI_API_KEY).
//
// Callers (the turn engine) import this package, not net/http; they need
// net/http only to pass their own *http.Client in [Config.HTTPClient].
package llm
