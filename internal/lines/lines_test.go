package lines

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{"one line", []string{"a\n"}, []string{"a"}},
		{"split across writes", []string{"a", "b\nc", "\n"}, []string{"ab", "c"}},
		{"crlf", []string{"a\r\nb\r\n"}, []string{"a", "b"}},
		{"empty lines kept", []string{"\n\nx\n"}, []string{"", "", "x"}},
		{"last line without newline", []string{"a\nrest"}, []string{"a", "rest"}},
		{"nothing", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			w := &Writer{Emit: func(l string) { got = append(got, l) }}
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", s, n, err, len(s))
				}
			}
			w.Flush()
			w.Flush()
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("lines of %q = %q, want %q", tt.writes, got, tt.want)
			}
		})
	}
}

func TestWriterConcurrent(t *testing.T) {
	var got []string
	w := &Writer{Emit: func(l string) { got = append(got, l) }}
	done := make(chan bool)
	for i := range 4 {
		go func() {
			for j := range 100 {
				fmt.Fprintf(w, "%d-%d\n", i, j)
			}
			done <- true
		}()
	}
	for range 4 {
		<-done
	}
	if len(got) != 400 {
		t.Fatalf("got %d lines, want 400", len(got))
	}
}

func TestWriterBounds(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		total   int64
		writes  []string
		want    []string
		wantErr bool
	}{
		{"line at the bound", 3, 0, []string{"abc\n"}, []string{"abc"}, false},
		{"line past the bound", 3, 0, []string{"abcdef\nxy\n"}, []string{"abc" + CutMark + "3 more bytes)", "xy"}, false},
		{"cut across writes", 2, 0, []string{"ab", "cd", "e\r\n"}, []string{"ab" + CutMark + "4 more bytes)"}, false},
		{"cut last line", 2, 0, []string{"abcd"}, []string{"ab" + CutMark + "2 more bytes)"}, false},
		{"total reached", 0, 6, []string{"ab\ncd\n"}, []string{"ab", "cd"}, false},
		{"total passed", 0, 5, []string{"ab\ncd\n", "more\n"}, []string{"ab", "cd"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			w := &Writer{Emit: func(l string) { got = append(got, l) }, MaxLine: tt.max, MaxTotal: tt.total}
			var err error
			for _, s := range tt.writes {
				if _, e := w.Write([]byte(s)); e != nil {
					err = e
				}
			}
			w.Flush()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("lines of %q = %q, want %q", tt.writes, got, tt.want)
			}
			if (err != nil) != tt.wantErr || err != nil && !errors.Is(err, ErrTooMuch) {
				t.Errorf("Write error = %v, want ErrTooMuch: %v", err, tt.wantErr)
			}
			if w.Over() != tt.wantErr {
				t.Errorf("Over() = %v, want %v", w.Over(), tt.wantErr)
			}
		})
	}
}

// TestWriterEndlessLine: a host sending a 1 GiB line with no newline costs
// the reader its line bound, not the line: the kept buffer never grows past
// MaxLine and all allocation during the stream stays within a few times it.
func TestWriterEndlessLine(t *testing.T) {
	const max = 64 << 10
	var got []string
	w := &Writer{Emit: func(l string) { got = append(got, l) }, MaxLine: max}
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 1024; i++ {
		w.Write(chunk)
		if cap(w.buf) > max {
			t.Fatalf("after %d MiB of one line the writer keeps %d bytes, want at most %d", i+1, cap(w.buf), max)
		}
	}
	w.Flush()
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*max {
		t.Errorf("reading a 1 GiB line allocated %d bytes, want at most %d", alloc, 4*max)
	}
	want := strings.Repeat("x", max) + CutMark + fmt.Sprint(1<<30-max) + " more bytes)"
	if len(got) != 1 || got[0] != want {
		t.Errorf("a 1 GiB line gave %d lines (first %d bytes), want one of %d bytes", len(got), len(first(got)), len(want))
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// BenchmarkWriterLongLine: the cost per byte of one line without a
// newline, for lines of 1 MiB and 64 MiB, beside the baseline of looking
// at every byte once (bytes.IndexByte on each write). Linear means the same
// ns/op per MiB at both sizes, a small ratio to the baseline; a writer that
// rescans its buffer on every write grows with the line.
//
//	go test -run '^$' -bench WriterLongLine ./internal/lines/
func BenchmarkWriterLongLine(b *testing.B) {
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	for _, mib := range []int{1, 64} {
		writes := mib << 20 / len(chunk)
		b.Run(fmt.Sprintf("baseline/%dMiB", mib), func(b *testing.B) {
			b.SetBytes(int64(mib << 20))
			for range b.N {
				for range writes {
					if bytes.IndexByte(chunk, '\n') >= 0 {
						b.Fatal("newline")
					}
				}
			}
		})
		b.Run(fmt.Sprintf("writer/%dMiB", mib), func(b *testing.B) {
			b.SetBytes(int64(mib << 20))
			for range b.N {
				w := &Writer{Emit: func(string) {}}
				for range writes {
					w.Write(chunk)
				}
				w.Flush()
			}
		})
	}
}
