package smtest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/supabridge/supabridge/shared/awssecrets/smtest"
)

// The credentials NewServer accepts by default; a test signing its own
// requests needs them (Server.Client uses them too).
var testCreds = aws.Credentials{AccessKeyID: "AKIASMTESTEXAMPLE", SecretAccessKey: "smtest/secret/access/key/EXAMPLE"}

type rawRequest struct {
	method, target, contentType string
	body                        string
	// sign adjusts how the request is signed; mutate alters it afterwards.
	region, service string
	signedAt        time.Time
	unsigned        bool
	mutate          func(*http.Request)
}

func (rr rawRequest) build(t testing.TB, url string) *http.Request {
	t.Helper()
	method := rr.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, url+"/", strings.NewReader(rr.body))
	if err != nil {
		t.Fatal(err)
	}
	ct := rr.contentType
	if ct == "" {
		ct = "application/x-amz-json-1.1"
	}
	req.Header.Set("Content-Type", ct)
	if rr.target != "" {
		req.Header.Set("X-Amz-Target", rr.target)
	}
	if !rr.unsigned {
		region, service, at := rr.region, rr.service, rr.signedAt
		if region == "" {
			region = "us-east-1"
		}
		if service == "" {
			service = "secretsmanager"
		}
		if at.IsZero() {
			at = time.Now()
		}
		sum := sha256.Sum256([]byte(rr.body))
		if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, req, hex.EncodeToString(sum[:]), service, region, at); err != nil {
			t.Fatal(err)
		}
	}
	if rr.mutate != nil {
		rr.mutate(req)
	}
	return req
}

func TestServerRejectsWhatTheServiceWould(t *testing.T) {
	s := smtest.NewServer(smtest.Options{})
	defer s.Close()
	get := "secretsmanager.GetSecretValue"
	tests := []struct {
		name       string
		req        rawRequest
		wantStatus int
		wantType   string
		wantInMsg  string
	}{
		{"well-formed request", rawRequest{target: get, body: `{"SecretId":"missing"}`}, 400, "ResourceNotFoundException", "can't find"},
		{"GET", rawRequest{method: http.MethodGet, target: get}, 404, "UnknownOperationException", ""},
		{"plain JSON content type", rawRequest{target: get, contentType: "application/json", body: `{"SecretId":"x"}`}, 400, "SerializationException", "Content-Type"},
		{"operation not modelled", rawRequest{target: "secretsmanager.ListSecrets", body: `{}`}, 400, "UnknownOperationException", "ListSecrets"},
		{"another service's target", rawRequest{target: "TrentService.Decrypt", body: `{}`}, 400, "UnknownOperationException", ""},
		{"no target", rawRequest{body: `{}`}, 400, "UnknownOperationException", ""},
		{"unsigned", rawRequest{target: get, body: `{"SecretId":"x"}`, unsigned: true}, 400, "InvalidSignatureException", "Authorization"},
		{"body changed after signing", rawRequest{target: get, body: `{"SecretId":"x"}`, mutate: func(r *http.Request) {
			b := `{"SecretId":"y"}`
			r.Body = ioNopCloser(b)
		}}, 400, "InvalidSignatureException", "signature does not match"},
		{"target changed after signing", rawRequest{target: get, body: `{"SecretId":"x"}`, mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Target", "secretsmanager.DescribeSecret")
		}}, 400, "InvalidSignatureException", "signature does not match"},
		{"other region", rawRequest{target: get, body: `{"SecretId":"x"}`, region: "eu-west-1"}, 400, "InvalidSignatureException", "scope"},
		{"other service", rawRequest{target: get, body: `{"SecretId":"x"}`, service: "kms"}, 400, "InvalidSignatureException", "scope"},
		{"stale signature", rawRequest{target: get, body: `{"SecretId":"x"}`, signedAt: time.Now().Add(-20 * time.Minute)}, 400, "InvalidSignatureException", "expired"},
		{"unknown field", rawRequest{target: get, body: `{"SecretId":"x","SecretID":"y"}`}, 400, "SerializationException", "SecretID"},
		{"field name in another case, nested", rawRequest{target: "secretsmanager.CreateSecret", body: `{"Name":"n","Tags":[{"key":"a","Value":"b"}]}`}, 400, "SerializationException", "key"},
		{"wrong type", rawRequest{target: get, body: `{"SecretId":5}`}, 400, "SerializationException", "SecretId"},
		{"not JSON", rawRequest{target: get, body: `SecretId=x`}, 400, "SerializationException", ""},
		{"trailing data", rawRequest{target: get, body: `{"SecretId":"x"}{}`}, 400, "SerializationException", "trailing"},
		{"field not modelled", rawRequest{target: "secretsmanager.PutSecretValue", body: `{"SecretId":"x","SecretString":"v","RotationToken":"` + strings.Repeat("r", 36) + `"}`}, 400, "InvalidParameterException", "rotation"},
		{"missing idempotency token", rawRequest{target: "secretsmanager.CreateSecret", body: `{"Name":"n","SecretString":"v"}`}, 400, "InvalidParameterException", "ClientRequestToken"},
		{"bad name", rawRequest{target: "secretsmanager.CreateSecret", body: `{"Name":"a b"}`}, 400, "InvalidParameterException", "Name"},
		{"oversized body", rawRequest{target: get, body: `{"SecretId":"` + strings.Repeat("x", 2<<20) + `"}`}, 413, "SerializationException", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.Client().Options().HTTPClient.Do(tt.req.build(t, s.URL))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Type    string `json:"__type"`
				Message string `json:"Message"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("response is not JSON: %v", err)
			}
			if resp.StatusCode != tt.wantStatus || body.Type != tt.wantType {
				t.Fatalf("got %d %s (%s), want %d %s", resp.StatusCode, body.Type, body.Message, tt.wantStatus, tt.wantType)
			}
			if !strings.Contains(body.Message, tt.wantInMsg) {
				t.Errorf("message %q does not mention %q", body.Message, tt.wantInMsg)
			}
			if resp.Header.Get("Content-Type") != "application/x-amz-json-1.1" || resp.Header.Get("X-Amzn-RequestId") == "" {
				t.Errorf("response headers %v", resp.Header)
			}
		})
	}
}

func ioNopCloser(s string) *nopCloser { return &nopCloser{strings.NewReader(s)} }

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

// The server never answers 5xx, panics or echoes a secret value, whatever
// a signed request carries.
func FuzzServer(f *testing.F) {
	s := smtest.NewServer(smtest.Options{ForceDeleteLag: time.Millisecond})
	defer s.Close()
	h := s.Handler()
	for _, seed := range []struct{ op, body string }{
		{"CreateSecret", `{"Name":"a/b","ClientRequestToken":"00000000-0000-4000-8000-000000000001","SecretString":"s3cr3t-value-seed","Tags":[{"Key":"k","Value":"v"}]}`},
		{"CreateSecret", `{"Name":"a/c","ClientRequestToken":"00000000-0000-4000-8000-000000000002","SecretBinary":"AAEC","KmsKeyId":"alias/x"}`},
		{"PutSecretValue", `{"SecretId":"a/b","ClientRequestToken":"00000000-0000-4000-8000-000000000003","SecretString":"next","VersionStages":["AWSPENDING"]}`},
		{"GetSecretValue", `{"SecretId":"a/b","VersionStage":"AWSPREVIOUS"}`},
		{"DeleteSecret", `{"SecretId":"a/b","RecoveryWindowInDays":7}`},
		{"DeleteSecret", `{"SecretId":"a/c","ForceDeleteWithoutRecovery":true}`},
		{"DescribeSecret", `{"SecretId":"a/b"}`},
		{"RestoreSecret", `{"SecretId":"a/b"}`},
		{"GetSecretValue", `{"SecretId":null}`},
		{"PutSecretValue", `{"SecretId":"a/b","SecretBinary":"not base64!"}`},
		{"Bogus", `[]`},
	} {
		f.Add(seed.op, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "http://smtest.local/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "secretsmanager."+op)
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, req, hex.EncodeToString(sum[:]), "secretsmanager", "us-east-1", time.Now()); err != nil {
			return // a header value the signer cannot carry is not a request
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %s %q: %s", rec.Code, op, body, rec.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("response is not a JSON object: %q", rec.Body)
		}
		if rec.Code != http.StatusOK {
			msg, _ := out["Message"].(string)
			if typ, _ := out["__type"].(string); typ == "" {
				t.Fatalf("error response without __type: %q", rec.Body)
			}
			var in struct{ SecretString string }
			_ = json.Unmarshal(body, &in)
			if len(in.SecretString) >= 8 && strings.Contains(msg, in.SecretString) {
				t.Fatalf("error message shows the secret value: %q", msg)
			}
		}
	})
}
