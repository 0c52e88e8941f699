// Package docs embeds the documents the binary serves: the OpenAPI contract
// of /api/v1 lives here, beside the prose, and is served from the same bytes.
package docs

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document of /api/v1.
//
//go:embed openapi.json
var OpenAPI []byte
