package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Delivery headers.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>",
	// the HMAC keyed with the webhook's signing secret over
	// "<t>.<raw body>".
	SignatureHeader = "X-Supabridge-Signature"
	// EventIDHeader carries the event's ID, which is also the body's "id":
	// receivers deduplicate on it.
	EventIDHeader = "X-Supabridge-Event-Id"
	// EventTypeHeader carries the event type.
	EventTypeHeader = "X-Supabridge-Event"
	// DeliveryIDHeader identifies this event's delivery to this webhook.
	DeliveryIDHeader = "X-Supabridge-Delivery-Id"
)

// SecretPrefix starts every webhook signing secret.
const SecretPrefix = "whsec_"

// DefaultTolerance is how old a signature Verify accepts by default.
const DefaultTolerance = 5 * time.Minute

// Sign returns the signature header value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors Verify returns.
var (
	ErrSignatureFormat   = errors.New("events: malformed signature header")
	ErrSignatureMismatch = errors.New("events: signature does not match")
	ErrSignatureExpired  = errors.New("events: signature timestamp outside the tolerance")
)

// Verify checks a signature header against body, as a receiver written in
// Go would: the timestamp must be within tolerance of now (0 means
// DefaultTolerance) and one v1 entry must match, compared in constant time.
// Unknown entries are ignored so that future schemes can be added beside
// v1.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrSignatureFormat
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return ErrSignatureFormat
			}
			sigs = append(sigs, b)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrSignatureFormat
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureExpired
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
