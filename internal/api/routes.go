package api

// routes is the one table of /api/v1: method, path, the permission the
// caller needs ("" = public) and the handler. Every route here must be in
// docs/openapi.json (TestOpenAPICoversEveryRoute).
func (s *Server) routes() []Route {
	return []Route{
		{"GET", "/api/v1/openapi.json", "", s.openAPI},

		{"GET", "/api/v1/organization", "organization:read", s.getOrganization},
		{"PATCH", "/api/v1/organization", "organization:write", s.updateOrganization},

		{"GET", "/api/v1/chatbots", "chatbots:read", s.listChatbots},
		{"POST", "/api/v1/chatbots", "chatbots:write", s.createChatbot},
		{"GET", "/api/v1/chatbots/{id}", "chatbots:read", s.getChatbot},
		{"PATCH", "/api/v1/chatbots/{id}", "chatbots:write", s.updateChatbot},
		{"DELETE", "/api/v1/chatbots/{id}", "chatbots:write", s.deleteChatbot},

		{"GET", "/api/v1/origins", "origins:read", s.listOrigins},
		{"POST", "/api/v1/origins", "origins:write", s.addOrigin},
		{"DELETE", "/api/v1/origins/{id}", "origins:write", s.removeOrigin},

		{"GET", "/api/v1/settings", "settings:read", s.getSettings},
		{"PUT", "/api/v1/settings", "settings:write", s.putSettings},

		{"GET", "/api/v1/security-events", "security_events:read", s.listSecurityEvents},

		// the Wake: export (owners), entries and conversation replay
		{"GET", "/api/v1/audit/export", "audit_export:read", s.exportAudit},
		{"GET", "/api/v1/audit/entries", "audit:read", s.listAuditEntries},
		{"GET", "/api/v1/conversations/{id}/timeline", "audit:read", s.conversationTimeline},

		// ---- accounts (issue 3; handlers in account_routes.go, logic in internal/auth) ----
		{"POST", "/api/v1/auth/login", "", s.login},
		{"POST", "/api/v1/auth/logout", "account:self", s.logout},
		{"POST", "/api/v1/auth/token", "account:self", s.refreshToken},
		{"POST", "/api/v1/auth/password", "account:self", s.changePassword},
		{"POST", "/api/v1/auth/password-reset", "", s.requestPasswordReset},
		{"POST", "/api/v1/auth/password-reset/confirm", "", s.confirmPasswordReset},
		{"POST", "/api/v1/auth/invitations/accept", "", s.acceptInvitation},

		{"GET", "/api/v1/me", "account:any", s.me},
		{"GET", "/api/v1/sessions", "account:self", s.listSessions},
		{"DELETE", "/api/v1/sessions/{id}", "account:self", s.revokeSession},

		{"GET", "/api/v1/invitations", "members:read", s.listInvitations},
		{"POST", "/api/v1/invitations", "members:write", s.invite},
		{"GET", "/api/v1/members", "members:read", s.listMembers},
		{"PATCH", "/api/v1/members/{user_id}", "members:write", s.updateMember},
		{"DELETE", "/api/v1/members/{user_id}", "members:write", s.removeMember},
		{"PUT", "/api/v1/chatbots/{id}/grants/{user_id}", "members:write", s.putChatbotGrant},
		{"PUT", "/api/v1/chatbots/{id}/sharing", "chatbots:write", s.putConversationSharing},

		{"GET", "/api/v1/api-keys", "api_keys:read", s.listAPIKeys},
		{"POST", "/api/v1/api-keys", "api_keys:write", s.createAPIKey},
		{"DELETE", "/api/v1/api-keys/{id}", "api_keys:write", s.revokeAPIKey},
		// ---- end accounts ----

		// ---- conversations (issue 5; handlers in conversation_routes.go, logic in internal/chat) ----
		{"GET", "/api/v1/conversations", "conversations:read", s.listConversations},
		{"GET", "/api/v1/conversations/export", "conversations:read", s.exportConversations},
		{"GET", "/api/v1/conversations/analytics", "conversations:read", s.conversationAnalytics},
		{"GET", "/api/v1/conversations/{id}", "conversations:read", s.getConversation},
		{"GET", "/api/v1/conversations/{id}/export", "conversations:read", s.exportConversation},
		{"POST", "/api/v1/conversations/{id}/take-over", "conversations:write", s.takeOverConversation()},
		{"POST", "/api/v1/conversations/{id}/release", "conversations:write", s.releaseConversation()},
		{"POST", "/api/v1/conversations/{id}/reply", "conversations:write", s.replyConversation},
		{"POST", "/api/v1/conversations/{id}/notes", "conversations:write", s.addConversationNote},
		{"POST", "/api/v1/conversations/{id}/close", "conversations:write", s.closeConversation()},
		{"POST", "/api/v1/conversations/{id}/reopen", "conversations:write", s.reopenConversation()},
		{"POST", "/api/v1/conversations/{id}/reassign", "supervision:write", s.reassignConversation},
		{"POST", "/api/v1/conversations/{id}/supervisor-take-over", "supervision:write", s.supervisorTakeOver()},
		{"PUT", "/api/v1/conversations/{id}/legal-hold", "supervision:write", s.putLegalHold},
		// ---- end conversations ----

		// ---- contacts (issue 5; handlers in contact_routes.go, logic in internal/chat/contacts.go) ----
		{"GET", "/api/v1/contacts", "conversations:read", s.listContacts},
		{"GET", "/api/v1/contacts/{id}", "conversations:read", s.getContact},
		{"POST", "/api/v1/contacts/merge", "supervision:write", s.mergeContacts},
		{"POST", "/api/v1/contacts/merges/{id}/undo", "supervision:write", s.undoContactMerge},
		// ---- end contacts ----

		// ---- assistant and knowledge (issue 4; handlers in assistant_routes.go and knowledge_routes.go) ----
		{"GET", "/api/v1/chatbots/{id}/assistant", "chatbots:read", s.getAssistantConfig},
		{"PUT", "/api/v1/chatbots/{id}/assistant", "chatbots:write", s.putAssistantConfig},
		{"POST", "/api/v1/chatbots/{id}/assistant/preview", "chatbots:read", s.previewAssistant}, // preview_routes.go
		{"GET", "/api/v1/chatbots/{id}/knowledge/sources", "knowledge:read", s.listKnowledgeSources},
		{"POST", "/api/v1/chatbots/{id}/knowledge/sources", "knowledge:write", s.addKnowledgeSource},
		{"POST", "/api/v1/chatbots/{id}/knowledge/uploads", "knowledge:write", s.uploadKnowledge}, // UploadRoutePattern: its own body cap
		{"GET", "/api/v1/chatbots/{id}/knowledge/sources/{source_id}", "knowledge:read", s.getKnowledgeSource},
		{"DELETE", "/api/v1/chatbots/{id}/knowledge/sources/{source_id}", "knowledge:write", s.deleteKnowledgeSource},
		{"POST", "/api/v1/chatbots/{id}/knowledge/sources/{source_id}/reimport", "knowledge:write", s.reimportKnowledgeSource},
		{"GET", "/api/v1/chatbots/{id}/knowledge/search", "knowledge:read", s.searchKnowledge},
		// ---- end assistant and knowledge ----

		// ---- widget identity (issue 7; handlers in identity_routes.go) ----
		{"POST", "/api/v1/chatbots/{id}/identity-secret", "chatbots:write", s.rotateIdentitySecret},
		{"DELETE", "/api/v1/chatbots/{id}/identity-secret", "chatbots:write", s.removeIdentitySecret},
		// ---- end widget identity ----
	}
}
