package directory

import (
	"strings"
	"time"
)

// Lifecycle is what an upstream records about a user's account; nil times
// were never set.
type Lifecycle struct {
	DeletedAt   *time.Time
	BannedUntil *time.Time
	InvitedAt   *time.Time
	// ConfirmedAt is when the user first confirmed an email address or a
	// phone number.
	ConfirmedAt *time.Time
}

// DeriveStatus applies the status rules, first match wins: deleted (a
// deletion time), inactive (banned until after now), invited (invited or
// created but never confirmed: the user cannot sign in with a password
// yet), otherwise active.
func DeriveStatus(l Lifecycle, now time.Time) Status {
	switch {
	case l.DeletedAt != nil:
		return StatusDeleted
	case l.BannedUntil != nil && l.BannedUntil.After(now):
		return StatusInactive
	case l.ConfirmedAt == nil:
		return StatusInvited
	}
	return StatusActive
}

// Names are the name parts of a user.
type Names struct {
	First, Last, Full, Username, Avatar string
}

// ResolveNames merges name sources, most authoritative first: each part is
// the first non-empty value. A missing full name is the first and last
// names joined; missing first and last names are split from the full name
// at its first space.
func ResolveNames(sources ...Names) Names {
	var n Names
	pick := func(dst *string, v string) {
		if *dst == "" {
			*dst = strings.TrimSpace(v)
		}
	}
	for _, s := range sources {
		pick(&n.First, s.First)
		pick(&n.Last, s.Last)
		pick(&n.Full, s.Full)
		pick(&n.Username, s.Username)
		pick(&n.Avatar, s.Avatar)
	}
	switch {
	case n.Full == "" && (n.First != "" || n.Last != ""):
		n.Full = strings.TrimSpace(n.First + " " + n.Last)
	case n.Full != "" && n.First == "" && n.Last == "":
		if first, last, ok := strings.Cut(n.Full, " "); ok {
			n.First, n.Last = first, strings.TrimSpace(last)
		} else {
			n.First = n.Full
		}
	}
	return n
}

// LaterOf returns the later of two optional times.
func LaterOf(a, b *time.Time) *time.Time {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.After(*a):
		return b
	}
	return a
}
