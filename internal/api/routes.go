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
	}
}
