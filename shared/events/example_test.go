package events_test

import (
	"fmt"
	"time"

	"github.com/supabridge/supabridge/shared/events"
)

// A receiver written in Go checks X-Supabridge-Signature against the raw
// body it received.
func ExampleVerify() {
	secret := []byte("whsec_example")
	body := []byte(`{"id":"0193a8f2-7c4e-7d10-9b2a-5f1e3c8d9a99","event":"integrated_account:active"}`)
	header := events.Sign(secret, time.Now(), body) // what Supabridge sends

	fmt.Println(events.Verify(secret, header, body, time.Now(), 0))
	fmt.Println(events.Verify(secret, header, []byte(`{"id":"forged"}`), time.Now(), 0))
	// Output:
	// <nil>
	// events: signature does not match
}
