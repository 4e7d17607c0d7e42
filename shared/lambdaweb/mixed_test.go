package lambdaweb_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/supabridge/supabridge/shared/lambdaweb"
)

func TestMixedHandler(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte(r.Method + " " + r.URL.Path))
	})
	var jobGot string
	job := func(_ context.Context, p json.RawMessage) (any, error) {
		jobGot = string(p)
		return map[string]string{"ran": "job"}, nil
	}
	handle := lambdaweb.MixedHandler(h, job)
	cases := []struct {
		name    string
		payload string
		http    bool
	}{
		{"http api", `{"version":"2.0","routeKey":"POST /x","rawPath":"/x","requestContext":{"http":{"method":"POST","path":"/x"},"requestId":"r1"}}`, true},
		{"schedule input", `{"job":"refresh","time":"2026-01-01T00:00:00Z"}`, false},
		{"sqs", `{"Records":[{"messageId":"1","body":"{}","eventSource":"aws:sqs"}]}`, false},
		{"version without http", `{"version":"2.0"}`, false},
		{"not an object", `[1,2]`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jobGot = ""
			out, err := handle(context.Background(), json.RawMessage(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			resp, isHTTP := out.(events.APIGatewayV2HTTPResponse)
			if isHTTP != tc.http {
				t.Fatalf("got %T, want HTTP=%v", out, tc.http)
			}
			if tc.http && (resp.StatusCode != http.StatusTeapot || resp.Body != "POST /x") {
				t.Errorf("HTTP response %d %q", resp.StatusCode, resp.Body)
			}
			if !tc.http && jobGot != tc.payload {
				t.Errorf("job got %q", jobGot)
			}
		})
	}
}
