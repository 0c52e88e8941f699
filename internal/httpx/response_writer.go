package httpx

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// statusWriter remembers the status and size of a response so AccessLog can
// log them and Recover and WriteError know whether a response has started.
// It forwards Flush and Hijack, and Unwrap lets http.ResponseController reach
// the connection (write deadlines for streaming and WebSocket handlers).
type statusWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

// track returns a tracking writer for w and the request carrying the shared
// record. A middleware handed the tracking writer of an outer one reuses it,
// so a stack adds one wrapper, not one per middleware.
func track(w http.ResponseWriter, r *http.Request) (*statusWriter, *http.Request, *requestInfo) {
	r, info := withInfo(r)
	if info.writer != nil && w == http.ResponseWriter(info.writer) {
		return info.writer, r, info
	}
	sw := &statusWriter{ResponseWriter: w}
	info.writer = sw
	return sw, r, info
}

func (s *statusWriter) WriteHeader(code int) {
	// Informational responses (103 Early Hints) precede the real one.
	if !s.wroteHeader && (code >= 200 || code == http.StatusSwitchingProtocols) {
		s.status = code
		s.wroteHeader = true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if !s.wroteHeader {
		s.status = http.StatusOK
		s.wroteHeader = true
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the sendfile path of the underlying writer for
// http.ServeContent and io.Copy.
func (s *statusWriter) ReadFrom(src io.Reader) (int64, error) {
	if !s.wroteHeader {
		s.WriteHeader(http.StatusOK)
	}
	var n int64
	var err error
	if rf, ok := s.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{s.ResponseWriter}, src)
	}
	s.bytes += n
	return n, err
}

// Flush implements http.Flusher for code that type-asserts instead of using
// http.ResponseController.
func (s *statusWriter) Flush() {
	if !s.wroteHeader {
		s.status = http.StatusOK
		s.wroteHeader = true
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker for WebSocket libraries that type-assert.
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil && !s.wroteHeader {
		s.status = http.StatusSwitchingProtocols
		s.wroteHeader = true
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// writerOnly hides ReadFrom so io.Copy does not recurse into statusWriter.
type writerOnly struct{ io.Writer }
