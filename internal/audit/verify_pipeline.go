package audit

import (
	"io"
	"runtime"
	"strings"
	"sync"
)

// Decoding JSON is most of the cost of verifying, and each line can be
// decoded and checked on its own; only the sequence checks and the tree are
// sequential. So the body of a bundle goes through a pipeline: one reader
// cuts lines into chunks, workers decode and check them, and the verifier
// takes the chunks in order. This is what keeps a 1,000,000-entry bundle
// well under the 10 s goal.

// chunkLines is how many lines travel together through the pipeline.
const chunkLines = 512

// pipeLine is one line of the body, decoded.
type pipeLine struct {
	lineNo int
	raw    string // "" after a read fault
	fault  string // why the line is unreadable or malformed, or ""
	ioErr  error
	line   bundleLine
	facts  entryFacts // for entry lines
}

type lineChunk struct {
	lines []pipeLine
	done  chan struct{} // closed when the workers have decoded every line
}

// runBody verifies everything after the prefix line.
func (v *verifier) runBody() error {
	workers := max(runtime.GOMAXPROCS(0), 1)
	stop := make(chan struct{})
	work := make(chan *lineChunk, workers)
	ordered := make(chan *lineChunk, 2*workers)
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		for range ordered { // let the reader finish so the workers can
		}
		wg.Wait()
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		v.readChunks(stop, work, ordered)
	}()
	org := v.header.Org
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var (
				lh  leafHasher
				enc []byte
			)
			for c := range work {
				for i := range c.lines {
					p := &c.lines[i]
					if p.raw == "" {
						continue
					}
					if !parseEntryLineFast(p.raw, &p.line, &enc) {
						p.fault = decodeBundleLine([]byte(p.raw), &p.line, &enc)
					}
					if p.fault == "" && p.line.Type == lineEntry {
						p.facts = checkEntryLine(org, &p.line, &lh)
					}
					p.raw = ""
				}
				close(c.done)
			}
		}()
	}

	const (
		inEntries = iota
		wantEnd
		wantEOF
	)
	state := inEntries
	for c := range ordered {
		<-c.done
		for i := range c.lines {
			p := &c.lines[i]
			v.lineNo = p.lineNo
			if p.ioErr != nil {
				return p.ioErr
			}
			if p.fault != "" {
				return v.fail(-1, "%s", p.fault)
			}
			v.line = p.line
			switch state {
			case inEntries:
				switch v.line.Type {
				case lineEntry:
					if err := v.checkEntry(p.facts); err != nil {
						return err
					}
				case lineCheckpoint:
					if err := v.checkInlineCheckpoint(); err != nil {
						return err
					}
				case lineBoundary:
					if err := v.checkBoundary(); err != nil {
						return err
					}
				case lineConsistency:
					if err := v.checkConsistency(); err != nil {
						return err
					}
					state = wantEnd
				default:
					return v.fail(-1, "unexpected %s line among the entries", v.line.Type)
				}
			case wantEnd:
				if v.line.Type != lineEnd {
					return v.fail(-1, "expected a end line, found a %s line", v.line.Type)
				}
				if v.line.Entries != v.header.EndSeq-v.header.FirstSeq {
					return v.fail(-1, "end line counts %d entries, the header %d", v.line.Entries, v.header.EndSeq-v.header.FirstSeq)
				}
				state = wantEOF
			case wantEOF:
				return v.fail(-1, "data after the end line")
			}
		}
	}
	switch state {
	case inEntries:
		return v.fail(-1, "bundle is truncated: entry %d and the end of the bundle are missing", v.frontier.size)
	case wantEnd:
		return v.fail(-1, "bundle is truncated: expected a end line")
	}
	return nil
}

// readChunks cuts the rest of the input into chunks of lines and hands each
// to the workers and, in order, to the verifier. It stops at the end of the
// input, at the first unreadable line, or when stop is closed.
func (v *verifier) readChunks(stop <-chan struct{}, work, ordered chan<- *lineChunk) {
	defer close(ordered)
	defer close(work)
	lineNo := v.lineNo
	for {
		c := &lineChunk{lines: make([]pipeLine, 0, chunkLines), done: make(chan struct{})}
		// The chunk's lines go back to back into one string, so a chunk
		// costs one allocation and the fields decoded from it none.
		var text strings.Builder
		text.Grow(chunkLines * 512) // a typical entry line is 400-500 bytes
		var ends []int
		last := false
		for len(c.lines) < chunkLines {
			raw, err := v.in.ReadSlice('\n')
			if err == io.EOF && len(raw) == 0 {
				last = true
				break
			}
			lineNo++
			p := pipeLine{lineNo: lineNo}
			p.fault, p.ioErr = readFault(err)
			ok := p.fault == "" && p.ioErr == nil
			if ok {
				text.Write(raw)
			}
			ends = append(ends, text.Len())
			c.lines = append(c.lines, p)
			if !ok {
				last = true
				break
			}
		}
		all, start := text.String(), 0
		for i := range c.lines {
			c.lines[i].raw = all[start:ends[i]]
			start = ends[i]
		}
		select {
		case ordered <- c:
		case <-stop:
			return
		}
		select {
		case work <- c:
		case <-stop:
			return
		}
		if last {
			return
		}
	}
}
