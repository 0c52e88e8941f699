package httpx

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// DecodeJSON decodes the request body into dst, strictly: the Content-Type
// must be application/json (charset, if given, utf-8), unknown fields are
// refused, and the body must hold exactly one JSON value. Failures are
// EINVALID with a message fit for the caller, or ETOOLARGE when the body is
// over the BodyLimit cap.
//
// encoding/json matches field names case-insensitively and keeps the last of
// duplicate keys; validate decoded values rather than rely on key spelling.
func DecodeJSON(r *http.Request, dst any) error {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		return porthole.Errorf(porthole.EINVALID, "Content-Type must be application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return porthole.Errorf(porthole.EINVALID, "JSON must be encoded as utf-8")
	}
	if r.Body == nil || r.Body == http.NoBody {
		return porthole.Errorf(porthole.EINVALID, "request body is empty")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	// Exactly one value: anything but whitespace after it is refused, so a
	// proxy and this server cannot disagree about what the body says.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return decodeError(err)
			}
		}
		return porthole.Errorf(porthole.EINVALID, "request body must hold exactly one JSON value")
	}
	return nil
}

// decodeError turns an encoding/json or body error into an application error
// whose message names the problem without echoing much of the input.
func decodeError(err error) error {
	var (
		tooLarge  *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return porthole.WrapError(porthole.ETOOLARGE, err, "request body is over %d bytes", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return porthole.Errorf(porthole.EINVALID, "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return porthole.Errorf(porthole.EINVALID, "request body is truncated JSON")
	case errors.As(err, &syntaxErr):
		return porthole.Errorf(porthole.EINVALID, "malformed JSON at byte %d", syntaxErr.Offset)
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return porthole.Errorf(porthole.EINVALID, "field %q must be %s", truncate(typeErr.Field, 64), jsonKind(typeErr.Type))
		}
		return porthole.Errorf(porthole.EINVALID, "request body must be %s", jsonKind(typeErr.Type))
	}
	// encoding/json reports unknown fields only as text.
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return porthole.Errorf(porthole.EINVALID, "unknown field %s", truncate(field, 66))
	}
	return porthole.WrapError(porthole.EINVALID, err, "malformed JSON")
}

// jsonKind names the JSON kind a Go type decodes from, so messages speak
// JSON to the caller rather than Go type names.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}

// truncate shortens s to at most n bytes, so attacker-sized input is not
// echoed back whole.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
