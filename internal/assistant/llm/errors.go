package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// ErrorKind classifies a provider failure so callers can choose what to tell
// the visitor and the operator without parsing messages.
type ErrorKind string

// The kinds of provider failures.
const (
	ErrTimeout     ErrorKind = "timeout"      // no first token, or no chunk for too long
	ErrRateLimited ErrorKind = "rate_limited" // 429 still after retries, or Retry-After over the cap
	ErrUnavailable ErrorKind = "unavailable"  // connect errors and 5xx still after retries
	ErrAuth        ErrorKind = "auth"         // 401/403: the key is wrong or lacks access
	ErrBadRequest  ErrorKind = "bad_request"  // 400/404/422: wrong model name, bad parameters
	ErrTruncated   ErrorKind = "truncated"    // the stream ended before the upstream said it was done
	ErrCanceled    ErrorKind = "canceled"     // the caller's context ended
	ErrConfig      ErrorKind = "config"       // the chatbot's provider settings cannot be used
	ErrUpstream    ErrorKind = "upstream"     // anything else the upstream reported
)

// Error is the error every stream failure is reported with. Its Error text
// is for logs (it never holds a key); VisitorMessage is what a visitor may see.
type Error struct {
	Kind ErrorKind
	// StatusCode is the upstream HTTP status, when there was one.
	StatusCode int
	// Attempts is how many upstream requests were made.
	Attempts int
	// AfterOutput is true when the failure came after model output was
	// received, which is why it was not retried.
	AfterOutput bool
	// Err is the cause, for logs.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	msg := "llm: " + string(e.Kind)
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.StatusCode)
	}
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Code returns the porthole error code that fits the failure, for callers
// that report it through the application error type.
func (e *Error) Code() string {
	switch e.Kind {
	case ErrRateLimited:
		return porthole.ERATELIMITED
	case ErrConfig, ErrAuth, ErrBadRequest:
		return porthole.EINVALID
	case ErrCanceled:
		return porthole.ECONFLICT
	}
	return porthole.EUNAVAILABLE
}

// VisitorMessage returns an English sentence the visitor may be shown; it
// never carries upstream details. The caller adds the offer of a human.
func (e *Error) VisitorMessage() string {
	switch e.Kind {
	case ErrTimeout:
		return "Sorry, the assistant is taking too long to answer right now."
	case ErrRateLimited:
		return "Sorry, the assistant is very busy right now."
	case ErrCanceled:
		return "The reply was stopped."
	case ErrTruncated:
		return "Sorry, the assistant's reply was cut off."
	}
	return "Sorry, the assistant can't answer right now."
}

// errFirstTokenTimeout and errIdleTimeout are the causes an attempt's
// context is canceled with when a timeout fires.
var (
	errFirstTokenTimeout = errors.New("no model output before the first-token timeout")
	errIdleTimeout       = errors.New("no data from the upstream within the idle timeout")
	errTruncated         = errors.New("the stream ended before the upstream finished the reply")
)

// failure is what a provider adapter reports about one failed attempt; the
// runner decides whether it is retried.
type failure struct {
	kind       ErrorKind
	status     int
	retryable  bool
	retryAfter time.Duration // from Retry-After / retry-after-ms; 0 if none
	err        error
}

// classifyStatus maps an upstream HTTP status to a kind and whether it is
// worth retrying.
func classifyStatus(status int) (ErrorKind, bool) {
	switch {
	case status == 429:
		return ErrRateLimited, true
	case status == 401 || status == 403:
		return ErrAuth, false
	case status == 408:
		return ErrUnavailable, true
	case status >= 500:
		return ErrUnavailable, true
	case status >= 400:
		return ErrBadRequest, false
	}
	return ErrUpstream, false
}

// classifyTransportError decides whether an error without an HTTP status
// (dial, reset, unexpected EOF before output) is transient.
func classifyTransportError(err error) failure {
	var netErr net.Error
	switch {
	case fetch.IsRefused(err):
		// The SSRF guard refused the base URL's address: asking again
		// cannot help, the settings must change.
		return failure{kind: ErrConfig, err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return failure{kind: ErrCanceled, err: err}
	case errors.Is(err, errMalformedStream):
		// Before isEOF: a cut-off JSON event wraps io.ErrUnexpectedEOF, but
		// the upstream sent it whole.
		return failure{kind: ErrUpstream, err: err}
	case errors.Is(err, errTruncated), isEOF(err):
		return failure{kind: ErrTruncated, retryable: true, err: err}
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return failure{kind: ErrUnavailable, retryable: true, err: err}
	case errors.As(err, &netErr):
		return failure{kind: ErrUnavailable, retryable: true, err: err}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return failure{kind: ErrUnavailable, retryable: true, err: err}
	}
	return failure{kind: ErrUpstream, err: err}
}

// isEOF reports whether err is a plain or unexpected end of the body.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
