package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

func TestAssistantConfig(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		ta, tb := db.Tenant(a.ID), db.Tenant(b.ID)
		bot := mustChatbot(t, ta, "bot")

		def, err := ta.AssistantConfig(ctx, bot.ID)
		if err != nil || def.Provider != store.AssistantBuiltin || def.Tools.ContactForm || len(def.APIKeySealed) != 0 {
			t.Fatalf("default config = %+v, %v", def, err)
		}
		temp := 0.3
		cfg := store.AssistantConfig{ChatbotID: bot.ID, Provider: store.AssistantOpenAI, BaseURL: "https://llm.example.com/v1/",
			Model: "gpt-test", Temperature: &temp, MaxTokens: 400, SystemPrompt: "Be kind.", APIKeySealed: []byte{1, 2, 3},
			Tools: store.AssistantTools{ContactForm: true, Handoff: true, HTTP: []store.AssistantHTTPTool{{
				Name: "book", Description: "Book a visit", Schema: json.RawMessage(`{"type":"object","properties":{"day":{"type":"string"}}}`),
				URL: "https://shop.example.com/book", Method: "POST", SecretSealed: []byte{9, 9}, TimeoutMS: 2000, MaxResponseBytes: 4096}}},
			Budgets:       store.AssistantBudgets{Visitor: store.Budget{Messages: 10, Tokens: 5000, WindowSeconds: 3600}},
			HistoryTokens: 1500, DefaultCountry: "DE"}
		if _, err := ta.PutAssistantConfig(ctx, cfg); err != nil {
			t.Fatalf("PutAssistantConfig: %v", err)
		}
		got, err := ta.AssistantConfig(ctx, bot.ID)
		if err != nil {
			t.Fatalf("AssistantConfig: %v", err)
		}
		if got.Model != "gpt-test" || got.Temperature == nil || *got.Temperature != 0.3 || string(got.APIKeySealed) != "\x01\x02\x03" ||
			!got.Tools.ContactForm || got.Tools.KnowledgeSearch || len(got.Tools.HTTP) != 1 || string(got.Tools.HTTP[0].SecretSealed) != "\x09\x09" ||
			got.Budgets.Visitor.Tokens != 5000 || got.HistoryTokens != 1500 || got.DefaultCountry != "DE" {
			t.Fatalf("round trip = %+v", got)
		}
		// The API shape never carries secrets.
		raw, _ := json.Marshal(got)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		if _, ok := m["APIKeySealed"]; ok || containsByte(raw, "secret\"") || containsByte(raw, "AQID") {
			t.Fatalf("JSON shape leaks a secret: %s", raw)
		}
		// Another tenant cannot read or write it.
		_, err = tb.AssistantConfig(ctx, bot.ID)
		wantCode(t, err, porthole.ENOTFOUND)
		cfg.ChatbotID = bot.ID
		_, err = tb.PutAssistantConfig(ctx, cfg)
		wantCode(t, err, porthole.ENOTFOUND)

		entries, err := ta.AuditEntries(ctx, 100)
		if err != nil {
			t.Fatalf("AuditEntries: %v", err)
		}
		found := false
		for _, e := range entries {
			if e.Action == "assistant.configure" && e.Target == "chatbot:"+bot.ID {
				found = true
				if containsByte(e.Payload, "\x01\x02\x03") {
					t.Fatalf("audit payload holds the key: %s", e.Payload)
				}
			}
		}
		if !found {
			t.Fatalf("no assistant.configure entry in %+v", entries)
		}

		bad := []struct {
			name string
			edit func(*store.AssistantConfig)
		}{
			{"provider", func(c *store.AssistantConfig) { c.Provider = "gpt" }},
			{"model missing", func(c *store.AssistantConfig) { c.Model = "" }},
			{"temperature", func(c *store.AssistantConfig) { v := 3.0; c.Temperature = &v }},
			{"credentials in base url", func(c *store.AssistantConfig) { c.BaseURL = "https://u:k@x.example/" }},
			{"country", func(c *store.AssistantConfig) { c.DefaultCountry = "Germany" }},
			{"tool name built in", func(c *store.AssistantConfig) { c.Tools.HTTP[0].Name = "handoff" }},
			{"tool schema not object", func(c *store.AssistantConfig) { c.Tools.HTTP[0].Schema = json.RawMessage(`{"type":"string"}`) }},
			{"tool url scheme", func(c *store.AssistantConfig) { c.Tools.HTTP[0].URL = "file:///etc/passwd" }},
			{"tool timeout", func(c *store.AssistantConfig) { c.Tools.HTTP[0].TimeoutMS = 600000 }},
			{"negative budget", func(c *store.AssistantConfig) { c.Budgets.Org.Tokens = -1 }},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				c := cfg
				c.Tools.HTTP = append([]store.AssistantHTTPTool(nil), cfg.Tools.HTTP...)
				tc.edit(&c)
				_, err := ta.PutAssistantConfig(ctx, c)
				wantCode(t, err, porthole.EINVALID)
			})
		}
	})
}

func TestAssistantUsage(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		ta, tb := db.Tenant(a.ID), db.Tenant(b.ID)
		bot := mustChatbot(t, ta, "bot")
		_, conv := mustConversation(t, ta, bot.ID)

		u, err := ta.Usage(ctx, conv.ID)
		if err != nil || u.Turns != 0 {
			t.Fatalf("empty usage = %+v, %v", u, err)
		}
		for range 2 {
			if _, err := ta.EndTurn(ctx, conv.ID, store.TurnEnd{Usage: &store.TokenUsage{InputTokens: 100, OutputTokens: 20}}); err != nil {
				t.Fatalf("EndTurn with usage: %v", err)
			}
		}
		u, err = ta.Usage(ctx, conv.ID)
		if err != nil || u.Turns != 2 || u.InputTokens != 200 || u.OutputTokens != 40 {
			t.Fatalf("usage = %+v, %v", u, err)
		}
		_, err = tb.EndTurn(ctx, conv.ID, store.TurnEnd{Usage: &store.TokenUsage{InputTokens: 1, OutputTokens: 1}})
		wantCode(t, err, porthole.ENOTFOUND)
		_, err = tb.Usage(ctx, conv.ID)
		wantCode(t, err, porthole.ENOTFOUND)

		// The turn's reply is recorded with its usage, in one transaction:
		// against another tenant's conversation, neither is written.
		reply := audit.Entry{Actor: audit.Actor{Kind: audit.ActorAssistant, ID: bot.ID}, Action: "assistant.reply",
			Target: "turn:t1", Reason: "the reply", Payload: audit.Payload(map[string]any{"output_tokens": 5})}
		withReply := store.TurnEnd{Usage: &store.TokenUsage{InputTokens: 10, OutputTokens: 5}, Decisions: []audit.Entry{reply}}
		if _, err := ta.EndTurn(ctx, conv.ID, withReply); err != nil {
			t.Fatalf("EndTurn with a decision: %v", err)
		}
		_, err = tb.EndTurn(ctx, conv.ID, withReply)
		wantCode(t, err, porthole.ENOTFOUND)
		if u, _ := ta.Usage(ctx, conv.ID); u.Turns != 3 || u.OutputTokens != 45 {
			t.Fatalf("usage after the reply = %+v", u)
		}
		var replies []audit.Entry
		for _, org := range []*store.Tenant{ta, tb} {
			entries, err := org.AuditEntries(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Action == "assistant.reply" {
					replies = append(replies, e)
				}
			}
		}
		if len(replies) != 1 || replies[0].ConversationID != conv.ID || replies[0].OrgID != a.ID || replies[0].Actor.ID != bot.ID {
			t.Fatalf("reply entries = %+v", replies)
		}

	})
}

func containsByte(haystack []byte, needle string) bool {
	return strings.Contains(string(haystack), needle)
}
