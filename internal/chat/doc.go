// Package chat is the conversation service behind the widget: visitors
// (anonymous by session, optionally with a verified identity), their
// conversations with a chatbot, numbered stored events (messages, turn ends,
// forms), assistant turns streamed through a TurnEngine, active hours with
// an offline contact form, and live fan-out of every event to every socket
// of the conversation through pubsub.
//
// The database is the truth: every stored event has a per-conversation
// sequence number and is committed before it is published, so a socket that
// missed a publication (reconnect, restart, a dropped slow subscriber)
// catches up from the store. Streamed deltas are live only; the full reply
// is stored as one message before the turn ends.
//
// The service records its decisions in the Wake (decisions.go): who answers
// each visitor message, how each turn ended and each accepted contact form,
// each in the transaction of the event it explains.
//
// This package must never import net/http or a transport; it returns
// porthole.Error values for the transport to map.
package chat
