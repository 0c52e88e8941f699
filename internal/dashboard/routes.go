package dashboard

import "net/http"

// routes is the one table of the dashboard. Pages are GET; every change is
// a POST form (behind CrossOriginProtection). The permission in member(...)
// is the least a page needs; actions on one chatbot or member check more.
func (d *Dashboard) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+staticPrefix+"{file}", d.serveStatic)

	mux.HandleFunc("GET /app/sign-in", d.signInPage)
	mux.HandleFunc("POST /app/sign-in", d.signIn)
	mux.HandleFunc("POST /app/sign-out", d.signOut)
	mux.HandleFunc("GET /app/password-reset", d.passwordResetPage)
	mux.HandleFunc("POST /app/password-reset/request", d.requestPasswordReset)
	mux.HandleFunc("POST /app/password-reset", d.confirmPasswordReset)
	mux.HandleFunc("GET /app/invitations/accept", d.invitationPage)
	mux.HandleFunc("POST /app/invitations/accept", d.acceptInvitation)

	mux.HandleFunc("GET /app/{$}", d.member("", d.overview))
	mux.HandleFunc("POST /app/organization/switch", d.member("", d.switchOrganization))

	mux.HandleFunc("GET /app/chatbots", d.member("chatbots:read", d.chatbots))
	mux.HandleFunc("POST /app/chatbots", d.member("chatbots:write", d.createChatbot))
	mux.HandleFunc("GET /app/chatbots/{id}", d.member("chatbots:read", d.chatbot))
	mux.HandleFunc("POST /app/chatbots/{id}/rename", d.member("chatbots:write", d.renameChatbot))
	mux.HandleFunc("POST /app/chatbots/{id}/appearance", d.member("chatbots:write", d.saveAppearance))
	mux.HandleFunc("POST /app/chatbots/{id}/delete", d.member("chatbots:write", d.deleteChatbot))

	// ---- assistant and knowledge (issue 4; assistant.go, knowledge.go) ----
	mux.HandleFunc("GET /app/chatbots/{id}/assistant", d.member("chatbots:read", d.assistantPage))
	mux.HandleFunc("POST /app/chatbots/{id}/assistant", d.member("chatbots:write", d.saveAssistant))
	mux.HandleFunc("GET /app/chatbots/{id}/knowledge", d.member("knowledge:read", d.knowledgePage))
	mux.HandleFunc("POST /app/chatbots/{id}/knowledge/url", d.member("knowledge:write", d.addKnowledgeURL))
	mux.HandleFunc("POST /app/chatbots/{id}/knowledge/sitemap", d.member("knowledge:write", d.addKnowledgeSitemap))
	mux.HandleFunc("POST /app/chatbots/{id}/knowledge/upload", d.member("knowledge:write", d.uploadKnowledge)) // its own body cap
	mux.HandleFunc("POST /app/chatbots/{id}/knowledge/sources/{source_id}/reimport", d.member("knowledge:write", d.reimportKnowledge))
	mux.HandleFunc("POST /app/chatbots/{id}/knowledge/sources/{source_id}/delete", d.member("knowledge:write", d.deleteKnowledge))
	mux.HandleFunc("GET /app/chatbots/{id}/preview", d.member("knowledge:read", d.previewPageGet))
	mux.HandleFunc("POST /app/chatbots/{id}/preview", d.member("knowledge:read", d.previewAsk))
	// ---- end assistant and knowledge ----

	// ---- inbox, exports, analytics (issue 5; inbox.go, inbox_events.go, analytics.go) ----
	// The chat service checks grants and the sharing policy for every
	// conversation; conversations:read is the least a page needs.
	mux.HandleFunc("GET /app/inbox", d.member("conversations:read", d.inboxPage))
	mux.HandleFunc("GET /app/inbox.json", d.member("conversations:read", d.inboxJSON))
	mux.HandleFunc("GET /app/inbox/events", d.member("conversations:read", d.inboxEvents))
	mux.HandleFunc("POST /app/inbox/export", d.member("conversations:read", d.exportConversations))
	mux.HandleFunc("GET /app/inbox/{id}", d.member("conversations:read", d.conversationPage))
	mux.HandleFunc("GET /app/inbox/{id}/events", d.member("conversations:read", d.conversationEvents))
	mux.HandleFunc("POST /app/inbox/{id}/export", d.member("conversations:read", d.exportConversation))
	mux.HandleFunc("POST /app/inbox/{id}/reply", d.member("conversations:write", d.replyToConversation))
	mux.HandleFunc("POST /app/inbox/{id}/notes", d.member("conversations:write", d.addConversationNote))
	mux.HandleFunc("POST /app/inbox/{id}/take-over", d.member("conversations:write", d.conversationAction(takeOver, "taken-over")))
	mux.HandleFunc("POST /app/inbox/{id}/release", d.member("conversations:write", d.conversationAction(release, "released")))
	mux.HandleFunc("POST /app/inbox/{id}/close", d.member("conversations:write", d.conversationAction(closeConversation, "closed")))
	mux.HandleFunc("POST /app/inbox/{id}/reopen", d.member("conversations:write", d.conversationAction(reopen, "reopened")))
	mux.HandleFunc("POST /app/inbox/{id}/reassign", d.member("supervision:write", d.reassignConversation))
	mux.HandleFunc("POST /app/inbox/{id}/supervisor-take-over", d.member("supervision:write", d.conversationAction(supervisorTakeOver, "supervisor-in")))
	mux.HandleFunc("GET /app/analytics", d.member("conversations:read", d.analyticsPage))
	// ---- end inbox ----

	// ---- contacts (issue 5; contacts.go) ----
	// The same chat service calls and permissions as the API's contact routes.
	mux.HandleFunc("GET /app/contacts", d.member("conversations:read", d.contactsList))
	mux.HandleFunc("GET /app/contacts/{id}", d.member("conversations:read", d.contactPage))
	mux.HandleFunc("POST /app/contacts/{id}/merge", d.member("supervision:write", d.mergeContact))
	mux.HandleFunc("POST /app/contacts/{id}/merges/{merge_id}/undo", d.member("supervision:write", d.undoContactMerge))
	// ---- end contacts ----

	mux.HandleFunc("GET /app/origins", d.member("origins:read", d.origins))
	mux.HandleFunc("POST /app/origins", d.member("origins:write", d.addOrigin))
	mux.HandleFunc("POST /app/origins/{id}/delete", d.member("origins:write", d.removeOrigin))

	mux.HandleFunc("GET /app/team", d.member("members:read", d.team))
	mux.HandleFunc("POST /app/team/invitations", d.member("members:write", d.invite))
	mux.HandleFunc("POST /app/team/members/{id}/role", d.member("members:write", d.changeRole))
	mux.HandleFunc("POST /app/team/members/{id}/remove", d.member("members:write", d.removeMember))
	mux.HandleFunc("POST /app/team/members/{id}/grants", d.member("members:write", d.setGrant))

	mux.HandleFunc("GET /app/api-keys", d.member("api_keys:read", d.apiKeys))
	mux.HandleFunc("POST /app/api-keys", d.member("api_keys:write", d.createAPIKey))
	mux.HandleFunc("POST /app/api-keys/{id}/revoke", d.member("api_keys:write", d.revokeAPIKey))

	mux.HandleFunc("GET /app/sessions", d.member("", d.sessions))
	mux.HandleFunc("POST /app/sessions/{id}/revoke", d.member("", d.revokeSession))

	mux.HandleFunc("GET /app/security-events", d.member("security_events:read", d.securityEvents))

	mux.HandleFunc("GET /app/audit", d.member("audit:read", d.auditLogPage))
	mux.HandleFunc("POST /app/audit/export", d.member("audit_export:read", d.exportAudit))
	mux.HandleFunc("GET /app/conversations/{id}/timeline", d.member("audit:read", d.conversationTimeline))

	mux.HandleFunc("/app/", d.notFound)
}
