package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Provider kinds of an assistant (the same names as internal/assistant/llm).
const (
	AssistantBuiltin     = "builtin"
	AssistantOpenAI      = "openai"
	AssistantAzureOpenAI = "azure-openai"
	AssistantAnthropic   = "anthropic"
)

// Limits of an assistant configuration.
const (
	MaxSystemPromptBytes = 32 << 10
	MaxHTTPTools         = 20
	MaxToolSchemaBytes   = 16 << 10
	// MaxToolResponseBytes caps AssistantHTTPTool.MaxResponseBytes.
	MaxToolResponseBytes = 1 << 20
	// MaxToolTimeout caps AssistantHTTPTool.TimeoutMS.
	MaxToolTimeout = 30 * time.Second
)

// AssistantConfig is a chatbot's assistant: the provider that answers, its
// prompt, the tools the model may call and the budgets that cap its cost.
// A chatbot nobody configured has DefaultAssistantConfig.
type AssistantConfig struct {
	OrgID     string `json:"organization_id"`
	ChatbotID string `json:"chatbot_id"`
	// Provider is builtin, openai, azure-openai or anthropic.
	Provider string `json:"provider"`
	// BaseURL is the provider's API root; empty for the vendor's own.
	BaseURL string `json:"base_url"`
	// APIVersion is Azure's api-version for deployment URLs.
	APIVersion  string   `json:"api_version,omitempty"`
	Model       string   `json:"model"`
	Temperature *float64 `json:"temperature"`
	// MaxTokens caps a reply; 0 means the provider layer's default.
	MaxTokens    int    `json:"max_tokens"`
	SystemPrompt string `json:"system_prompt"`
	// APIKeySealed is the provider key sealed with internal/secrets (the
	// organization id as associated data). It is stored as given: to keep
	// the current key, read the config and pass it back unchanged.
	APIKeySealed []byte           `json:"-"`
	Tools        AssistantTools   `json:"tools"`
	Budgets      AssistantBudgets `json:"budgets"`
	// HistoryTokens is the token budget of the conversation history sent
	// with each request (estimated; see docs/assistant.md); 0 means the
	// assistant's default.
	HistoryTokens int `json:"history_tokens"`
	// DefaultCountry is the ISO 3166-1 alpha-2 country whose numbering
	// applies to phone numbers given without a +country code ("" means
	// only international numbers are accepted).
	DefaultCountry string    `json:"default_country"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// AssistantTools are the tools the model is given. A tool that is not
// enabled here is never offered to the model and never executed.
type AssistantTools struct {
	// ContactForm lets the model ask the visitor for name, phone and email.
	ContactForm bool `json:"contact_form"`
	// Handoff lets the model hand the conversation to a human.
	Handoff bool `json:"handoff"`
	// KnowledgeSearch lets the model search the chatbot's knowledge base.
	KnowledgeSearch bool `json:"knowledge_search"`
	// HTTP are business-defined tools called over HTTP.
	HTTP []AssistantHTTPTool `json:"http"`
}

// AssistantHTTPTool is a business-defined tool: the model's arguments,
// validated against Schema, are sent as a JSON body to URL through the
// SSRF-safe client, signed with the tool's secret.
type AssistantHTTPTool struct {
	// Name is what the model calls: 1-64 of [a-zA-Z0-9_-], unique, and not
	// one of the built-in tool names.
	Name        string `json:"name"`
	Description string `json:"description"`
	// Schema is the JSON schema of the arguments, an object schema.
	Schema json.RawMessage `json:"schema"`
	URL    string          `json:"url"`
	// Method is POST (default), PUT or PATCH... or GET, which sends no body.
	Method string `json:"method"`
	// SecretSealed is the signing secret sealed with internal/secrets;
	// stored as given, like AssistantConfig.APIKeySealed.
	SecretSealed []byte `json:"-"`
	// TimeoutMS caps one call; 0 means 10 s, at most MaxToolTimeout.
	TimeoutMS int `json:"timeout_ms"`
	// MaxResponseBytes caps the response; 0 means 64 KiB, at most
	// MaxToolResponseBytes.
	MaxResponseBytes int64 `json:"max_response_bytes"`
}

// Budget is one moving-window cap: at most Messages visitor messages and
// Tokens tokens (input plus output) per WindowSeconds. Zero Messages or
// Tokens means that dimension is not capped; zero WindowSeconds means an
// hour.
type Budget struct {
	Messages      int64 `json:"messages"`
	Tokens        int64 `json:"tokens"`
	WindowSeconds int64 `json:"window_seconds"`
}

// Window returns the budget's moving window.
func (b Budget) Window() time.Duration {
	if b.WindowSeconds <= 0 {
		return time.Hour
	}
	return time.Duration(b.WindowSeconds) * time.Second
}

// AssistantBudgets cap the assistant's cost per visitor, per client IP and
// per organization.
type AssistantBudgets struct {
	Visitor Budget `json:"visitor"`
	IP      Budget `json:"ip"`
	Org     Budget `json:"org"`
}

// AssistantUsage is the assistant's token usage in one conversation.
type AssistantUsage struct {
	ConversationID string    `json:"conversation_id"`
	Turns          int64     `json:"turns"`
	InputTokens    int64     `json:"input_tokens"`
	OutputTokens   int64     `json:"output_tokens"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Names of the built-in tools; an HTTP tool may not take them.
var builtinToolNames = map[string]bool{"contact_form": true, "handoff": true, "knowledge_search": true}

var (
	toolNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	countryPattern  = regexp.MustCompile(`^[A-Z]{2}$`)
)

// DefaultAssistantConfig returns the assistant of a chatbot nobody
// configured: the built-in provider, no tools, no budgets.
func DefaultAssistantConfig(orgID, chatbotID string) AssistantConfig {
	return AssistantConfig{OrgID: orgID, ChatbotID: chatbotID, Provider: AssistantBuiltin}
}

// Validate checks the configuration and returns an EINVALID error naming the
// first bad field. It does not check that sealed values open.
func (c AssistantConfig) Validate() error {
	switch c.Provider {
	case AssistantBuiltin, AssistantOpenAI, AssistantAzureOpenAI, AssistantAnthropic:
	default:
		return porthole.Errorf(porthole.EINVALID, "provider must be builtin, openai, azure-openai or anthropic")
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(c.BaseURL) > 2048 {
			return porthole.Errorf(porthole.EINVALID, "base_url must be an http(s) URL without credentials")
		}
	}
	if c.Provider == AssistantAzureOpenAI && c.BaseURL == "" {
		return porthole.Errorf(porthole.EINVALID, "azure-openai needs the resource's base_url")
	}
	if c.Provider != AssistantBuiltin && strings.TrimSpace(c.Model) == "" {
		return porthole.Errorf(porthole.EINVALID, "model is required")
	}
	if len(c.Model) > 200 || len(c.APIVersion) > 50 {
		return porthole.Errorf(porthole.EINVALID, "model or api_version is too long")
	}
	if c.Temperature != nil && (math.IsNaN(*c.Temperature) || *c.Temperature < 0 || *c.Temperature > 2) {
		return porthole.Errorf(porthole.EINVALID, "temperature must be between 0 and 2")
	}
	if c.MaxTokens < 0 || c.MaxTokens > 1<<20 {
		return porthole.Errorf(porthole.EINVALID, "max_tokens must be between 0 and 1048576")
	}
	if len(c.SystemPrompt) > MaxSystemPromptBytes || !utf8.ValidString(c.SystemPrompt) {
		return porthole.Errorf(porthole.EINVALID, "system_prompt must be UTF-8 of at most %d bytes", MaxSystemPromptBytes)
	}
	if c.HistoryTokens < 0 || c.HistoryTokens > 1<<20 {
		return porthole.Errorf(porthole.EINVALID, "history_tokens must be between 0 and 1048576")
	}
	if c.DefaultCountry != "" && !countryPattern.MatchString(c.DefaultCountry) {
		return porthole.Errorf(porthole.EINVALID, "default_country must be an ISO 3166-1 alpha-2 code such as DE")
	}
	for name, b := range map[string]Budget{"visitor": c.Budgets.Visitor, "ip": c.Budgets.IP, "org": c.Budgets.Org} {
		if b.Messages < 0 || b.Tokens < 0 || b.WindowSeconds < 0 || b.WindowSeconds > 31*24*3600 {
			return porthole.Errorf(porthole.EINVALID, "budgets.%s must be non-negative with a window of at most 31 days", name)
		}
	}
	if len(c.Tools.HTTP) > MaxHTTPTools {
		return porthole.Errorf(porthole.EINVALID, "at most %d HTTP tools", MaxHTTPTools)
	}
	seen := map[string]bool{}
	for i, tool := range c.Tools.HTTP {
		if err := tool.validate(); err != nil {
			return porthole.Errorf(porthole.EINVALID, "tools.http[%d]: %s", i, porthole.ErrorMessage(err))
		}
		if seen[tool.Name] {
			return porthole.Errorf(porthole.EINVALID, "tools.http[%d]: the name %q is used twice", i, tool.Name)
		}
		seen[tool.Name] = true
	}
	return nil
}

func (tool AssistantHTTPTool) validate() error {
	if !toolNamePattern.MatchString(tool.Name) {
		return porthole.Errorf(porthole.EINVALID, "name must be 1 to 64 of a-z A-Z 0-9 _ -")
	}
	if builtinToolNames[tool.Name] {
		return porthole.Errorf(porthole.EINVALID, "name %q is a built-in tool", tool.Name)
	}
	if len(tool.Description) > 1024 || !utf8.ValidString(tool.Description) {
		return porthole.Errorf(porthole.EINVALID, "description must be UTF-8 of at most 1024 bytes")
	}
	if len(tool.Schema) > MaxToolSchemaBytes {
		return porthole.Errorf(porthole.EINVALID, "schema is over %d bytes", MaxToolSchemaBytes)
	}
	if len(tool.Schema) > 0 {
		var s struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(tool.Schema, &s); err != nil || s.Type != "object" {
			return porthole.Errorf(porthole.EINVALID, "schema must be a JSON object schema ({\"type\":\"object\",...})")
		}
	}
	u, err := url.Parse(tool.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(tool.URL) > 2048 {
		return porthole.Errorf(porthole.EINVALID, "url must be an http(s) URL without credentials")
	}
	switch tool.Method {
	case "", "GET", "POST", "PUT", "PATCH":
	default:
		return porthole.Errorf(porthole.EINVALID, "method must be GET, POST, PUT or PATCH")
	}
	if tool.TimeoutMS < 0 || time.Duration(tool.TimeoutMS)*time.Millisecond > MaxToolTimeout {
		return porthole.Errorf(porthole.EINVALID, "timeout_ms must be between 0 and %d", MaxToolTimeout.Milliseconds())
	}
	if tool.MaxResponseBytes < 0 || tool.MaxResponseBytes > MaxToolResponseBytes {
		return porthole.Errorf(porthole.EINVALID, "max_response_bytes must be between 0 and %d", MaxToolResponseBytes)
	}
	return nil
}

// storedTools is the tools column: the HTTP tools with their sealed secrets,
// which the API shape (AssistantHTTPTool's JSON) leaves out.
type storedTools struct {
	ContactForm     bool             `json:"contact_form"`
	Handoff         bool             `json:"handoff"`
	KnowledgeSearch bool             `json:"knowledge_search"`
	HTTP            []storedHTTPTool `json:"http"`
}

type storedHTTPTool struct {
	AssistantHTTPTool
	Secret []byte `json:"secret,omitempty"`
}

func encodeTools(t AssistantTools) (string, error) {
	st := storedTools{ContactForm: t.ContactForm, Handoff: t.Handoff, KnowledgeSearch: t.KnowledgeSearch, HTTP: []storedHTTPTool{}}
	for _, h := range t.HTTP {
		st.HTTP = append(st.HTTP, storedHTTPTool{AssistantHTTPTool: h, Secret: h.SecretSealed})
	}
	b, err := json.Marshal(st)
	return string(b), err
}

func decodeTools(raw string) (AssistantTools, error) {
	var st storedTools
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return AssistantTools{}, err
	}
	t := AssistantTools{ContactForm: st.ContactForm, Handoff: st.Handoff, KnowledgeSearch: st.KnowledgeSearch}
	for _, h := range st.HTTP {
		tool := h.AssistantHTTPTool
		tool.SecretSealed = h.Secret
		t.HTTP = append(t.HTTP, tool)
	}
	return t, nil
}

// AssistantConfig returns a chatbot's assistant configuration, or
// DefaultAssistantConfig when none was saved. An unknown chatbot is
// ENOTFOUND.
func (t *Tenant) AssistantConfig(ctx context.Context, chatbotID string) (AssistantConfig, error) {
	if !porthole.ValidID(chatbotID) {
		return AssistantConfig{}, notFound("chatbot")
	}
	c := DefaultAssistantConfig(t.orgID, chatbotID)
	err := t.read(ctx, func(tx *Tx) error {
		if err := t.chatbotExists(ctx, tx, chatbotID); err != nil {
			return err
		}
		var temperature sql.NullFloat64
		var tools, budgets string
		var updated int64
		err := tx.queryRow(ctx, `SELECT provider, base_url, api_version, model, temperature, max_tokens, system_prompt, api_key,
				tools, budgets, history_tokens, default_country, updated_at
			FROM assistant_configs WHERE org_id = ? AND chatbot_id = ?`, t.orgID, chatbotID).Scan(
			&c.Provider, &c.BaseURL, &c.APIVersion, &c.Model, &temperature, &c.MaxTokens, &c.SystemPrompt, &c.APIKeySealed,
			&tools, &budgets, &c.HistoryTokens, &c.DefaultCountry, &updated)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: unable to read assistant config: %w", err)
		}
		if temperature.Valid {
			v := temperature.Float64
			c.Temperature = &v
		}
		if len(c.APIKeySealed) == 0 {
			c.APIKeySealed = nil
		}
		if c.Tools, err = decodeTools(tools); err != nil {
			return fmt.Errorf("store: unable to read assistant config: tools: %w", err)
		}
		if err := json.Unmarshal([]byte(budgets), &c.Budgets); err != nil {
			return fmt.Errorf("store: unable to read assistant config: budgets: %w", err)
		}
		c.UpdatedAt = fromMillis(updated)
		return nil
	})
	return c, err
}

// PutAssistantConfig validates and saves a chatbot's assistant
// configuration, sealed key and tool secrets included, and records the
// change (without any secret) in the audit log in the same transaction.
func (t *Tenant) PutAssistantConfig(ctx context.Context, c AssistantConfig) (AssistantConfig, error) {
	if !porthole.ValidID(c.ChatbotID) {
		return AssistantConfig{}, notFound("chatbot")
	}
	c.OrgID = t.orgID
	if c.Provider == "" {
		c.Provider = AssistantBuiltin
	}
	if err := c.Validate(); err != nil {
		return AssistantConfig{}, err
	}
	tools, err := encodeTools(c.Tools)
	if err != nil {
		return AssistantConfig{}, fmt.Errorf("store: unable to encode tools: %w", err)
	}
	budgets, _ := json.Marshal(c.Budgets)
	var temperature any
	if c.Temperature != nil {
		temperature = *c.Temperature
	}
	var key any
	if len(c.APIKeySealed) > 0 {
		key = c.APIKeySealed
	}
	now := t.db.now()
	c.UpdatedAt = fromMillis(millis(now))
	err = t.tx(ctx, func(tx *Tx) error {
		if err := t.chatbotExists(ctx, tx, c.ChatbotID); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO assistant_configs (chatbot_id, org_id, provider, base_url, api_version, model, temperature,
				max_tokens, system_prompt, api_key, tools, budgets, history_tokens, default_country, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (chatbot_id) DO UPDATE SET provider = excluded.provider, base_url = excluded.base_url,
				api_version = excluded.api_version, model = excluded.model, temperature = excluded.temperature,
				max_tokens = excluded.max_tokens, system_prompt = excluded.system_prompt, api_key = excluded.api_key,
				tools = excluded.tools, budgets = excluded.budgets, history_tokens = excluded.history_tokens,
				default_country = excluded.default_country, updated_at = excluded.updated_at`,
			c.ChatbotID, t.orgID, c.Provider, c.BaseURL, c.APIVersion, c.Model, temperature, c.MaxTokens, c.SystemPrompt, key,
			tools, string(budgets), c.HistoryTokens, c.DefaultCountry, millis(now))
		if err != nil {
			return fmt.Errorf("store: unable to save assistant config: %w", err)
		}
		return t.record(ctx, tx, "assistant.configure", "chatbot:"+c.ChatbotID, assistantConfigAudit(c))
	})
	if err != nil {
		return AssistantConfig{}, err
	}
	return c, nil
}

// assistantConfigAudit is what the audit log keeps of a configuration: the
// settings, whether secrets are set, never the secrets.
func assistantConfigAudit(c AssistantConfig) map[string]any {
	var httpTools []map[string]any
	for _, h := range c.Tools.HTTP {
		httpTools = append(httpTools, map[string]any{"name": h.Name, "url": h.URL, "method": h.Method, "secret_set": len(h.SecretSealed) > 0})
	}
	return map[string]any{
		"provider": c.Provider, "base_url": c.BaseURL, "model": c.Model, "temperature": c.Temperature,
		"max_tokens": c.MaxTokens, "system_prompt_bytes": len(c.SystemPrompt), "api_key_set": len(c.APIKeySealed) > 0,
		"tools": map[string]any{"contact_form": c.Tools.ContactForm, "handoff": c.Tools.Handoff,
			"knowledge_search": c.Tools.KnowledgeSearch, "http": httpTools},
		"budgets": c.Budgets, "history_tokens": c.HistoryTokens, "default_country": c.DefaultCountry,
	}
}

func (t *Tenant) chatbotExists(ctx context.Context, tx *Tx, chatbotID string) error {
	var n int
	if err := tx.queryRow(ctx, `SELECT count(*) FROM chatbots WHERE org_id = ? AND id = ?`, t.orgID, chatbotID).Scan(&n); err != nil {
		return fmt.Errorf("store: unable to read chatbot: %w", err)
	}
	if n == 0 {
		return notFound("chatbot")
	}
	return nil
}

// addUsage adds one assistant turn's token usage to its conversation
// inside tx (see EndTurn). The conversation is known to exist.
func (t *Tenant) addUsage(ctx context.Context, tx *Tx, conversationID string, u TokenUsage) error {
	_, err := tx.exec(ctx, `INSERT INTO assistant_usage (conversation_id, org_id, turns, input_tokens, output_tokens, updated_at)
		VALUES (?, ?, 1, ?, ?, ?)
		ON CONFLICT (conversation_id) DO UPDATE SET turns = assistant_usage.turns + 1,
			input_tokens = assistant_usage.input_tokens + excluded.input_tokens,
			output_tokens = assistant_usage.output_tokens + excluded.output_tokens, updated_at = excluded.updated_at`,
		conversationID, t.orgID, u.InputTokens, u.OutputTokens, millis(t.db.now()))
	if err != nil {
		return fmt.Errorf("store: unable to record usage: %w", err)
	}
	return nil
}

// Usage returns the assistant's usage in a conversation (zero counts when
// it has none). An unknown conversation is ENOTFOUND.
func (t *Tenant) Usage(ctx context.Context, conversationID string) (AssistantUsage, error) {
	if !porthole.ValidID(conversationID) {
		return AssistantUsage{}, notFound("conversation")
	}
	u := AssistantUsage{ConversationID: conversationID}
	err := t.tx(ctx, func(tx *Tx) error {
		if err := t.conversationExists(ctx, tx, conversationID); err != nil {
			return err
		}
		var updated int64
		err := tx.queryRow(ctx, `SELECT turns, input_tokens, output_tokens, updated_at FROM assistant_usage
			WHERE org_id = ? AND conversation_id = ?`, t.orgID, conversationID).Scan(&u.Turns, &u.InputTokens, &u.OutputTokens, &updated)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: unable to read usage: %w", err)
		}
		u.UpdatedAt = fromMillis(updated)
		return nil
	})
	return u, err
}
