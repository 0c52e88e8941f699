package llm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxSSELine bounds one line of an event stream. A chunk of a chat
// completion is a few hundred bytes; a tool call's arguments come in many
// chunks. A longer line is a broken or hostile upstream, not a reply.
const maxSSELine = 4 << 20

// sseReadBuffer is the read buffer of a reply's event stream: an event
// of a streamed reply is a few hundred bytes, and longer lines are still
// read whole.
const sseReadBuffer = 1024

// errMalformedStream is what a reply's event stream that is not one ends
// with, for every provider: an upstream error, never retried as a cut
// stream would be (classifyTransportError).
var errMalformedStream = errors.New("the upstream's event stream is malformed")

// errSSELineTooLong is the error of a stream with a line over maxSSELine.
var errSSELineTooLong = fmt.Errorf("%w: a line is over %d bytes", errMalformedStream, maxSSELine)

// eventStream is a streamed reply's body: its events (sseReader) and one
// JSON decoder for their data (eventJSON).
type eventStream struct {
	*sseReader
	*eventJSON
}

// openEventStream reads res, a streaming response the SDK's client
// accepted, as an event stream.
func openEventStream(res *http.Response) (eventStream, error) {
	r, err := openSSE(res)
	if err != nil {
		return eventStream{}, err
	}
	return eventStream{r, newEventJSON()}, nil
}

// openSSE reads res, a streaming response the SDK's client accepted, as
// server-sent events.
func openSSE(res *http.Response) (*sseReader, error) {
	if res == nil || res.Body == nil {
		return nil, errors.New("the upstream answered without a body")
	}
	return newSSEReader(res.Body, sseReadBuffer), nil
}

// sseReader reads the data of server-sent events (the WHATWG event stream
// format) from a streaming response body, one event at a time, into one
// buffer it reuses: a streamed reply allocates nothing per event here.
// Event names and ids are not read (chat completions send neither), comment
// lines are skipped, and an event without data (a keep-alive) is not
// returned. A last event without its blank line is dropped, as the format
// says.
type sseReader struct {
	body io.ReadCloser
	r    *bufio.Reader
	data []byte // the current event's data
	line []byte // a line longer than r's buffer, put together
	err  error  // io.EOF at the end of the stream
}

// newSSEReader reads body through a buffer of size bytes (lines up to
// maxSSELine are read whole through it).
func newSSEReader(body io.ReadCloser, size int) *sseReader {
	return &sseReader{body: body, r: bufio.NewReaderSize(body, size)}
}

// next returns the data of the next event, its lines joined by "\n", valid
// until the following call. ok is false at the end of the stream; err then
// says why when it did not end cleanly.
func (s *sseReader) next() (data []byte, ok bool) {
	s.data = s.data[:0]
	hasData := false
	for s.err == nil {
		line, err := s.readLine()
		if err != nil {
			s.err = err
			break
		}
		if len(line) == 0 {
			if hasData {
				return s.data, true
			}
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		if len(name) == 0 {
			continue // a comment
		}
		if string(name) != "data" {
			continue
		}
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		if hasData {
			s.data = append(s.data, '\n')
		}
		if len(s.data)+len(value) > maxSSELine {
			s.err = errSSELineTooLong
			break
		}
		s.data = append(s.data, value...)
		hasData = true
	}
	return nil, false
}

// Err returns why the stream ended, nil when it ended cleanly.
func (s *sseReader) Err() error {
	if errors.Is(s.err, io.EOF) {
		return nil
	}
	return s.err
}

// Close closes the body.
func (s *sseReader) Close() error { return s.body.Close() }

// readLine returns the next line without its end (LF or CRLF), valid
// until the following call.
func (s *sseReader) readLine() ([]byte, error) {
	line, err := s.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		s.line = append(s.line[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = s.r.ReadSlice('\n')
			if len(s.line)+len(line) > maxSSELine {
				return nil, errSSELineTooLong
			}
			s.line = append(s.line, line...)
		}
		line = s.line
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			// A last line without its end: the event it belongs to has
			// no blank line after it and is dropped.
			return nil, io.EOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// eventJSON decodes events' data, one JSON value per event, through one
// json.Decoder for the whole stream: json.Unmarshal builds its decoder
// state afresh for every call, about half of what a token allocated.
type eventJSON struct {
	src eventData
	dec *json.Decoder
	fed int64 // bytes given to dec, to find what it left of an event
}

func newEventJSON() *eventJSON {
	e := &eventJSON{}
	e.dec = json.NewDecoder(&e.src)
	return e
}

// decode decodes data, which must hold one JSON value and nothing else,
// into v; any other data is errMalformedStream. After an error the stream
// is not read on.
func (e *eventJSON) decode(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%w: an event without a JSON value", errMalformedStream)
	}
	e.src.data = data
	e.fed += int64(len(data))
	if err := e.dec.Decode(v); err != nil {
		return fmt.Errorf("%w: an event that is not JSON of the reply: %w", errMalformedStream, err)
	}
	// What the decoder has not consumed is the end of this event's data.
	rest := e.fed - e.dec.InputOffset()
	if rest < 0 || rest > int64(len(data)) || len(bytes.TrimSpace(data[int64(len(data))-rest:])) != 0 {
		return fmt.Errorf("%w: an event holds more than one JSON value", errMalformedStream)
	}
	return nil
}

// eventData serves one event's data to the decoder, then io.EOF.
type eventData struct{ data []byte }

func (r *eventData) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}
