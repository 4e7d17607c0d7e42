// Package logstest captures log output in tests: a Buffer is a log sink
// that many goroutines (a process's handlers, its background workers) may
// write to while the test reads it.
package logstest

import (
	"bytes"
	"sync"
)

// Buffer is a goroutine-safe bytes.Buffer for log lines. The zero value is
// ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
