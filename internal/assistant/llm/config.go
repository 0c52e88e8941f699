package llm

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Kind names a provider implementation.
type Kind string

// The provider kinds a chatbot can use.
const (
	// KindOpenAI is any server speaking OpenAI's chat completions API:
	// OpenAI itself (BaseURL empty), Ollama, vLLM, llama.cpp server, and
	// others, through openai-go.
	KindOpenAI Kind = "openai"
	// KindAzureOpenAI is Azure OpenAI: the OpenAI API with the key in an
	// "api-key" header and, for the deployment-style URLs, an api-version.
	KindAzureOpenAI Kind = "azure-openai"
	// KindAnthropic is Anthropic's Messages API through anthropic-sdk-go.
	KindAnthropic Kind = "anthropic"
	// KindBuiltin is the extractive provider: no key, no network.
	KindBuiltin Kind = "builtin"
)

// Policy is the retry and timeout behaviour of the model providers. Zero
// fields take the defaults of DefaultPolicy.
type Policy struct {
	// FirstTokenTimeout bounds the time from sending a request (each
	// attempt) to the first model output.
	FirstTokenTimeout time.Duration
	// IdleTimeout bounds the gap between two chunks once output flows.
	IdleTimeout time.Duration
	// MaxAttempts is how many requests one reply may make, retries
	// included. 1 disables retries.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the exponential backoff between
	// attempts.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// MaxRetryAfter caps how long a Retry-After from the upstream is
	// honoured; a longer one ends the reply with ErrRateLimited at once
	// rather than keeping the visitor waiting.
	MaxRetryAfter time.Duration
}

// DefaultPolicy returns the policy used for zero fields.
func DefaultPolicy() Policy {
	return Policy{
		FirstTokenTimeout: 30 * time.Second,
		IdleTimeout:       20 * time.Second,
		MaxAttempts:       3,
		BaseDelay:         250 * time.Millisecond,
		MaxDelay:          2 * time.Second,
		MaxRetryAfter:     5 * time.Second,
	}
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	if p.FirstTokenTimeout > 0 {
		d.FirstTokenTimeout = p.FirstTokenTimeout
	}
	if p.IdleTimeout > 0 {
		d.IdleTimeout = p.IdleTimeout
	}
	if p.MaxAttempts > 0 {
		d.MaxAttempts = p.MaxAttempts
	}
	if p.BaseDelay > 0 {
		d.BaseDelay = p.BaseDelay
	}
	if p.MaxDelay > 0 {
		d.MaxDelay = p.MaxDelay
	}
	if p.MaxRetryAfter > 0 {
		d.MaxRetryAfter = p.MaxRetryAfter
	}
	return d
}

// DefaultMaxTokens is the reply cap used when neither the request nor the
// chatbot sets one (Anthropic requires a value).
const DefaultMaxTokens = 1024

// Config is a chatbot's provider settings plus the operator's policy.
type Config struct {
	Kind Kind
	// BaseURL is the API root, e.g. "http://127.0.0.1:11434/v1/" for
	// Ollama. Empty means the vendor's public API (not allowed for
	// KindAzureOpenAI).
	BaseURL string
	// APIVersion is Azure's api-version query parameter, for deployment
	// URLs (…/openai/deployments/NAME/); leave empty for Azure's /openai/v1/.
	APIVersion string
	// Model is the model (or Azure deployment) name. Required for the model
	// providers.
	Model string
	// APIKeySealed is the provider key sealed with internal/secrets (the
	// organization id as associated data). Empty for servers without keys
	// (a local Ollama) and for KindBuiltin.
	APIKeySealed []byte
	SystemPrompt string
	// Temperature is nil for the model's default.
	Temperature *float64
	// MaxTokens caps the reply; 0 means DefaultMaxTokens.
	MaxTokens int
	Policy    Policy
	// HTTPClient carries the requests of the model providers. Nil means a
	// client that follows no redirects. When BaseURL comes from a tenant
	// rather than the operator, pass the SSRF-guarded client here.
	HTTPClient *http.Client
	// WordDelay paces the built-in provider's words (0: as fast as the
	// reader takes them).
	WordDelay time.Duration
}

// KeyOpener decrypts a sealed provider key; the caller binds it to the
// organization (for example a closure over secrets.Vault.Open with the org id).
type KeyOpener func(ctx context.Context, sealed []byte) ([]byte, error)

// NewProvider returns the provider cfg describes. The key stays sealed: it is
// opened by openKey at the start of each Stream and not kept in the clear
// beyond that request. openKey may be nil when no key is configured.
func NewProvider(ctx context.Context, cfg Config, openKey KeyOpener) (Provider, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg.Policy = cfg.Policy.withDefaults()
	if cfg.MaxTokens < 0 {
		return nil, configError("max tokens must not be negative")
	}
	if cfg.Temperature != nil && (*cfg.Temperature < 0 || *cfg.Temperature > 2) {
		return nil, configError("temperature must be between 0 and 2")
	}
	if cfg.Kind == KindBuiltin {
		return newExtractive(cfg), nil
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, configError("a model name is required")
	}
	if len(cfg.APIKeySealed) > 0 && openKey == nil {
		return nil, configError("a key is configured but no key opener was given")
	}
	if cfg.BaseURL != "" {
		if err := checkBaseURL(cfg.BaseURL); err != nil {
			return nil, err
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultHTTPClient()
	}
	var ad func(key string) adapter
	switch cfg.Kind {
	case KindOpenAI, KindAzureOpenAI:
		if cfg.Kind == KindAzureOpenAI && cfg.BaseURL == "" {
			return nil, configError("Azure OpenAI needs the resource's base URL")
		}
		ad = newOpenAIAdapter(cfg)
	case KindAnthropic:
		ad = newAnthropicAdapter(cfg)
	default:
		return nil, configError(fmt.Sprintf("unknown provider kind %q", cfg.Kind))
	}
	return &modelProvider{cfg: cfg, openKey: openKey, adapter: ad}, nil
}

func configError(msg string) *Error {
	return &Error{Kind: ErrConfig, Err: fmt.Errorf("%s", msg)}
}

// checkBaseURL accepts only absolute http(s) URLs without credentials: a key
// belongs in APIKeySealed, where it is encrypted, never in a URL.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return configError("the base URL is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return configError("the base URL must start with http:// or https://")
	}
	if u.Host == "" {
		return configError("the base URL has no host")
	}
	if u.User != nil {
		return configError("the base URL must not carry credentials; store the key as the API key")
	}
	return nil
}

// defaultHTTPClient follows no redirects (an API that redirects is
// misconfigured, and a redirect must not carry the key elsewhere) and has no
// overall timeout: streams are bounded by the policy's timeouts instead.
func defaultHTTPClient() *http.Client {
	return &http.Client{
		Transport: http.DefaultTransport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// modelProvider is a Provider backed by a remote model through an adapter.
type modelProvider struct {
	cfg     Config
	openKey KeyOpener
	adapter func(key string) adapter
}

// Stream implements Provider.
func (p *modelProvider) Stream(ctx context.Context, req Request) (Stream, error) {
	req = p.cfg.complete(req)
	key := ""
	if len(p.cfg.APIKeySealed) > 0 {
		plain, err := p.openKey(ctx, p.cfg.APIKeySealed)
		if err != nil {
			// The opener's error never holds the key; keep it as the cause.
			return nil, &Error{Kind: ErrConfig, Err: fmt.Errorf("unable to open the provider key: %w", err)}
		}
		key = string(plain)
		clear(plain)
	}
	return newResilientStream(ctx, p.adapter(key), req, p.cfg.Policy), nil
}

// complete fills the request's zero fields from the chatbot's settings.
func (c Config) complete(req Request) Request {
	if req.Model == "" {
		req.Model = c.Model
	}
	if req.System == "" {
		req.System = c.SystemPrompt
	}
	if req.Temperature == nil {
		req.Temperature = c.Temperature
	}
	if req.MaxTokens <= 0 {
		req.MaxTokens = c.MaxTokens
	}
	if req.MaxTokens <= 0 {
		req.MaxTokens = DefaultMaxTokens
	}
	return req
}
