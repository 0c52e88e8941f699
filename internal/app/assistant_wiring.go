package app

// Assistant wiring (issue 4): the turn engine the chat service runs, the
// knowledge service it searches and the ingestion worker. Owned by the
// assistant work.

import (
	"time"

	"github.com/porthole-chat/porthole/internal/assistant"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/store"
)

// demoWordDelay paces the built-in provider in --demo, so the reply is seen
// streaming.
const demoWordDelay = 20 * time.Millisecond

// newAssistant builds the assistant's turn engine on the App's knowledge
// service.
func (a *App) newAssistant(bus pubsub.PubSub) (*assistant.Engine, *knowledge.Service) {
	// The App's knowledge service (knowledge_wiring.go) runs the worker;
	// an App opened without one gets its own here.
	ks := a.Knowledge
	if ks == nil {
		ks = knowledge.New(knowledge.Config{DB: a.DB, Fetcher: fetch.New(fetch.Options{Security: a.Security}), Security: a.Security, Logger: a.Logger})
		a.AddService(knowledge.NewWorker(ks, 0, 0))
	}
	// Business tools get their own client: responses up to the largest
	// per-tool cap; each call's own cap and timeout are applied per call.
	toolFetcher := fetch.New(fetch.Options{Security: a.Security, MaxBytes: store.MaxToolResponseBytes, Timeout: store.MaxToolTimeout})
	var wordDelay time.Duration
	if a.Config.Demo {
		wordDelay = demoWordDelay
	}
	engine := assistant.New(assistant.Config{DB: a.DB, Knowledge: ks, Vault: a.Vault, Fetcher: toolFetcher, Bus: bus,
		Limiter: a.Limiter, Security: a.Security, Logger: a.Logger, WordDelay: wordDelay,
		ProviderNetwork: fetch.StreamingOptions{AllowPrivate: a.Config.LLMAllowPrivateBaseURLs}})
	a.assistant = engine
	return engine, ks
}

// connectHandoff lets the assistant's handoff tool reach the chat service,
// once the chat service implements hand-off.
func connectHandoff(engine *assistant.Engine, chatSvc *chat.Service) {
	if h, ok := any(chatSvc).(assistant.Handoffer); ok {
		engine.SetHandoff(h)
	}
}
