package assistant

import (
	"context"
	"net/netip"

	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// BudgetMessage is what a visitor whose budget is spent reads instead of a
// reply. It names no limit: the visitor cannot act on the number.
const BudgetMessage = "Thanks for your interest! We've reached the limit of assistant replies for now. Please try again a bit later, or leave your contact details and a person will get back to you."

// budgetScope is one of the three budgets a turn is counted against.
type budgetScope struct {
	name   string // "visitor", "ip", "org"
	id     string
	budget store.Budget
}

func (s budgetScope) key(dimension string) string {
	return "assistant:" + dimension + ":" + s.name + ":" + s.id
}

func scopesOf(cfg store.AssistantConfig, in chat.TurnInput) []budgetScope {
	scopes := []budgetScope{
		{name: "visitor", id: in.OrgID + ":" + in.VisitorID, budget: cfg.Budgets.Visitor},
		{name: "org", id: in.OrgID, budget: cfg.Budgets.Org},
	}
	if key := ipBudgetKey(in.ClientIP); key != "" {
		scopes = append(scopes, budgetScope{name: "ip", id: in.OrgID + ":" + key, budget: cfg.Budgets.IP})
	}
	return scopes
}

// ipBudgetKey is the address an IP budget counts against: the IPv4
// address, or the IPv6 /64 (one subscriber usually holds a whole /64 and
// could otherwise rotate through it), as the transport's rate limits do.
// "" when the address is unknown: no IP budget applies.
func ipBudgetKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	return netip.PrefixFrom(ip, 64).Masked().String()
}

// admit counts the turn's message against every budget and checks that
// each token budget has room left. It returns the first exhausted scope and
// dimension, or "" when the turn may run. A limiter failure lets the turn
// run: an outage of the limiter must not silence every chatbot.
func (e *Engine) admit(ctx context.Context, scopes []budgetScope) (scope, dimension string) {
	for _, s := range scopes {
		if s.budget.Messages > 0 {
			d, err := e.cfg.Limiter.Allow(ctx, s.key("messages"), porthole.Limit{N: s.budget.Messages, Window: s.budget.Window()}, 1)
			if err != nil {
				e.cfg.Logger.Warn("assistant: budget check failed; turn allowed", "scope", s.name, "err", err)
			} else if !d.Allowed {
				return s.name, "messages"
			}
		}
		if s.budget.Tokens > 0 {
			// Cost 1 is the smallest a limiter takes; the unit is part of
			// what charge counts afterwards.
			d, err := e.cfg.Limiter.Allow(ctx, s.key("tokens"), porthole.Limit{N: s.budget.Tokens, Window: s.budget.Window()}, 1)
			if err != nil {
				e.cfg.Logger.Warn("assistant: budget check failed; turn allowed", "scope", s.name, "err", err)
			} else if !d.Allowed {
				return s.name, "tokens"
			}
		}
	}
	return "", ""
}

// charge counts a finished turn's tokens against the token budgets. A turn
// that overshoots fills its window, so the next one is refused.
func (e *Engine) charge(ctx context.Context, scopes []budgetScope, tokens int64) {
	for _, s := range scopes {
		if s.budget.Tokens <= 0 {
			continue
		}
		limit := porthole.Limit{N: s.budget.Tokens, Window: s.budget.Window()}
		// One unit was taken by admit. A limiter takes a cost only when it
		// fits, so an overshoot is charged in halving steps until the
		// window is full: at most about 2*log2(N) calls.
		remaining := min(tokens-1, limit.N)
		step := remaining
		for remaining > 0 && step > 0 {
			cost := min(step, remaining)
			d, err := e.cfg.Limiter.Allow(ctx, s.key("tokens"), limit, cost)
			if err != nil {
				e.cfg.Logger.Warn("assistant: unable to charge tokens", "scope", s.name, "err", err)
				break
			}
			if d.Allowed {
				remaining -= cost
			} else {
				step /= 2
			}
		}
	}
}
