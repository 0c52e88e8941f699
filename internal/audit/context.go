package audit

import "context"

type actorKey struct{}

// actorInContext is who a request acts as, and why, for the entries its
// changes record.
type actorInContext struct {
	actor  Actor
	reason string
}

// WithActor returns ctx carrying who acts and why ("POST /api/v1/chatbots",
// "porthole admin create-owner"). The store records every change it makes in
// the same transaction, attributed to this actor; a change made with no actor
// in its context is attributed to the system.
func WithActor(ctx context.Context, actor Actor, reason string) context.Context {
	return context.WithValue(ctx, actorKey{}, actorInContext{actor: actor, reason: reason})
}

// ActorFrom returns the actor and reason in ctx, or the system with no reason.
func ActorFrom(ctx context.Context) (Actor, string) {
	if a, ok := ctx.Value(actorKey{}).(actorInContext); ok {
		return a.actor, a.reason
	}
	return Actor{Kind: ActorSystem}, ""
}
