package chat

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// TestAppendDeltaIsJSONMarshal: the hand-built delta frame is byte for byte
// what encoding/json writes for the same Frame, for text that needs every
// kind of escaping, and IsDelta tells it from every other frame.
func TestAppendDeltaIsJSONMarshal(t *testing.T) {
	texts := []string{
		"", "Hello", "t1763712000000000000 ", `quote " and back\slash`, "tab\tnew\nline\rcr",
		"\b\f\x00\x01\x1f\x7f", "<script>&amp;</script>", "caf\u00e9 \u2028 \u2029 \U0001F600",
		"bad \xff utf-8 \xc3", "\xed\xa0\x80 surrogate", "ends with \\",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		texts = append(texts, string(b))
	}
	for _, text := range texts {
		for _, turn := range []string{"", "01a1fec4-3c84-77e3-a50c-0f3e1f67510c"} {
			want, err := json.Marshal(Frame{Type: FrameDelta, Text: text, TurnID: turn})
			if err != nil {
				t.Fatal(err)
			}
			got := appendDelta(nil, turn, text)
			if string(got) != string(want) {
				t.Fatalf("appendDelta(%q, %q)\n got %s\nwant %s", turn, text, got, want)
			}
			if !IsDelta(got) {
				t.Fatalf("IsDelta(%s) = false", got)
			}
		}
	}
	for _, f := range []Frame{
		{Type: FrameMessage, Seq: 3, Role: "assistant", Text: `{"type":"delta",`},
		{Type: FrameTyping, Role: "visitor"},
		{Type: FrameTurnEnd, Seq: 4, Status: TurnDone},
		{Type: "deltas"},
	} {
		b, _ := json.Marshal(f)
		if IsDelta(b) {
			t.Fatalf("IsDelta(%s) = true", b)
		}
	}
}

func BenchmarkDeltaFrame(b *testing.B) {
	const turn, text = "01a1fec4-3c84-77e3-a50c-0f3e1f67510c", "t1763712000000000000 "
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(Frame{Type: FrameDelta, Text: text, TurnID: turn})
		}
	})
	b.Run("appendDelta", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = appendDelta(make([]byte, 0, len(deltaHead)+len(text)+len(turn)+32), turn, text)
		}
	})
}
