package smtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// verifySigV4 checks r's Signature Version 4 Authorization header against
// the server's credentials, computing the signature independently of the
// SDK's signer, so that a request the real service would reject as
// unsigned, mis-scoped or tampered with is rejected here too.
func (s *Server) verifySigV4(r *http.Request, body []byte, now time.Time) error {
	auth := r.Header.Get("Authorization")
	const algorithm = "AWS4-HMAC-SHA256"
	rest, ok := strings.CutPrefix(auth, algorithm+" ")
	if !ok {
		return fmt.Errorf("missing or non-SigV4 Authorization header")
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("malformed Authorization header")
		}
		fields[k] = v
	}
	credential, signedHeaders, signature := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	if credential == "" || signedHeaders == "" || signature == "" {
		return fmt.Errorf("Authorization header lacks Credential, SignedHeaders or Signature")
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return fmt.Errorf("malformed credential scope")
	}
	if scope[0] != s.opts.AccessKeyID {
		return fmt.Errorf("unknown access key")
	}
	if scope[2] != s.opts.Region || scope[3] != signingName {
		return fmt.Errorf("credential scope is for %s/%s, want %s/%s", scope[2], scope[3], s.opts.Region, signingName)
	}

	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return fmt.Errorf("missing or malformed X-Amz-Date")
	}
	if scope[1] != amzDate[:8] {
		return fmt.Errorf("credential scope date does not match X-Amz-Date")
	}
	if d := now.Sub(signedAt); d > 15*time.Minute || d < -15*time.Minute {
		return fmt.Errorf("signature expired or not yet valid")
	}

	names := strings.Split(signedHeaders, ";")
	if !slices.IsSorted(names) {
		return fmt.Errorf("SignedHeaders are not sorted")
	}
	for _, must := range []string{"content-type", "host", "x-amz-date", "x-amz-target"} {
		if !slices.Contains(names, must) {
			return fmt.Errorf("SignedHeaders lacks %s", must)
		}
	}
	var canonical strings.Builder
	canonical.WriteString(r.Method + "\n")
	canonical.WriteString(canonicalURI(r.URL.EscapedPath()) + "\n")
	canonical.WriteString(r.URL.Query().Encode() + "\n")
	for _, name := range names {
		var values []string
		switch name {
		case "host":
			values = []string{r.Host}
		case "content-length":
			values = []string{fmt.Sprint(r.ContentLength)}
		default:
			values = r.Header.Values(name)
		}
		if len(values) == 0 {
			return fmt.Errorf("signed header %s is absent", name)
		}
		for i, v := range values {
			values[i] = strings.Join(strings.Fields(v), " ")
		}
		canonical.WriteString(name + ":" + strings.Join(values, ",") + "\n")
	}
	canonical.WriteString("\n" + signedHeaders + "\n")
	canonical.WriteString(hexSHA256(body))

	stringToSign := algorithm + "\n" + amzDate + "\n" + strings.Join(scope[1:], "/") + "\n" + hexSHA256([]byte(canonical.String()))
	key := hmacSHA256([]byte("AWS4"+s.opts.SecretAccessKey), scope[1])
	for _, part := range scope[2:] {
		key = hmacSHA256(key, part)
	}
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return fmt.Errorf("the request signature does not match")
	}
	return nil
}

func canonicalURI(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
