package llm

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// readAll returns every event's data the reader yields and its error.
func readAll(t *testing.T, stream string, size int) ([]string, error) {
	t.Helper()
	r := newSSEReader(io.NopCloser(strings.NewReader(stream)), size)
	var got []string
	for {
		data, ok := r.next()
		if !ok {
			return got, r.Err()
		}
		got = append(got, string(data))
	}
}

func TestSSEReader(t *testing.T) {
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name   string
		stream string
		want   []string
	}{
		{"events", "data: a\n\ndata: b\n\n", []string{"a", "b"}},
		{"CRLF lines", "data: a\r\n\r\ndata: b\r\n\r\n", []string{"a", "b"}},
		{"lines of one event are joined", "data: {\"a\":\ndata: 1}\n\n", []string{"{\"a\":\n1}"}},
		{"no space after the colon", "data:a\n\n", []string{"a"}},
		{"only the first space is dropped", "data:  a\n\n", []string{" a"}},
		{"comments and keep-alives are skipped", ": ping\n\n: PROCESSING\ndata: a\n\n\n\n", []string{"a"}},
		{"other fields are ignored", "event: x\nid: 7\nretry: 10\ndata: a\n\n", []string{"a"}},
		{"an empty data line is an event", "data:\n\n", []string{""}},
		{"a last event without its blank line is dropped", "data: a\n\ndata: b\n", []string{"a"}},
		{"a last line without its end is dropped", "data: a\n\ndata: b", []string{"a"}},
		{"a line longer than the buffer", "data: " + long + "\n\ndata: b\n\n", []string{long, "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, tt.stream, 16)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Fatalf("events %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSSEReaderRefusesAnEndlessLine(t *testing.T) {
	// One line over the cap, and an event whose lines add up to over it.
	line := "data: " + strings.Repeat("x", maxSSELine+1) + "\n\n"
	lines := strings.Repeat("data: "+strings.Repeat("x", 1<<20)+"\n", 5) + "\n"
	for _, stream := range []string{line, lines} {
		got, err := readAll(t, "data: a\n\n"+stream, 1024)
		if !errors.Is(err, errSSELineTooLong) || len(got) != 1 {
			t.Fatalf("events %d, err %v; want the first event, then errSSELineTooLong", len(got), err)
		}
	}
}

func TestSSEReaderReportsACutStream(t *testing.T) {
	r := newSSEReader(io.NopCloser(io.MultiReader(strings.NewReader("data: a\n\ndata: b"), errReader{io.ErrUnexpectedEOF})), 64)
	if data, ok := r.next(); !ok || string(data) != "a" {
		t.Fatalf("first event %q, %v", data, ok)
	}
	if _, ok := r.next(); ok || !errors.Is(r.Err(), io.ErrUnexpectedEOF) {
		t.Fatalf("after the cut: ok %v, err %v", ok, r.Err())
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestEventJSON(t *testing.T) {
	type chunk struct {
		A int    `json:"a"`
		S string `json:"s"`
	}
	e := newEventJSON()
	// The decoder is reused: values one after another, of any size, with
	// whitespace around them.
	for i, data := range []string{`{"a":1,"s":"x"}`, "  {\"a\":2}\n ", `{"s":"` + strings.Repeat("y", 3000) + `"}`, `{"a":4}`} {
		var c chunk
		if err := e.decode([]byte(data), &c); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if i == 1 && (c.A != 2 || c.S != "") || i == 2 && len(c.S) != 3000 || i == 3 && c.A != 4 {
			t.Fatalf("event %d decoded as %+v", i, c)
		}
	}
	for _, bad := range []string{``, `  `, `{"a":1} {"a":2}`, `{"a":1} x`, `{"a":`, `nope`} {
		var c chunk
		if err := newEventJSON().decode([]byte(bad), &c); err == nil {
			t.Errorf("%q decoded without an error", bad)
		}
	}
}
