package bridge

import "github.com/google/uuid"

// NewID returns a new object ID: a UUIDv7, so IDs sort by creation time and
// listings ordered by ID are stable and chronological.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// ValidID reports whether s has the shape of an object ID. Lookups of
// anything else can answer "not found" without touching storage.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}
