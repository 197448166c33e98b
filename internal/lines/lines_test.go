package lines

import (
	"fmt"
	"reflect"
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
