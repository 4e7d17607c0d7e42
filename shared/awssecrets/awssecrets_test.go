package awssecrets_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/supabridge/supabridge/shared/awssecrets"
	"github.com/supabridge/supabridge/shared/awssecrets/smtest"
	"github.com/supabridge/supabridge/shared/vault"
	"github.com/supabridge/supabridge/shared/vault/vaulttest"
)

var ctx = context.Background()

func newServer(t testing.TB, opts smtest.Options) *smtest.Server {
	t.Helper()
	s := smtest.NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

func newVault(t testing.TB, s *smtest.Server, opts awssecrets.Options) *awssecrets.Vault {
	t.Helper()
	v, err := awssecrets.New(s.Client(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		opts awssecrets.Options
		wrap func(vault.Vault) vault.Vault
	}{
		{"direct", awssecrets.Options{}, nil},
		{"cached", awssecrets.Options{}, func(v vault.Vault) vault.Vault { return vault.NewCache(v, vault.CacheConfig{}) }},
		{"recovery window", awssecrets.Options{RecoveryWindowDays: 7, Prefix: "other/prefix/"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v vault.Vault = newVault(t, newServer(t, smtest.Options{}), tt.opts)
			if tt.wrap != nil {
				v = tt.wrap(v)
			}
			vaulttest.Run(t, v)
		})
	}
}

func TestSecretLayout(t *testing.T) {
	tests := []struct {
		name     string
		opts     awssecrets.Options
		ref      vault.Ref
		wantName string
		wantKMS  string
	}{
		{
			name:     "defaults",
			ref:      vault.Ref{Environment: "production", Kind: vault.KindAccount, ID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"},
			wantName: "supabridge/production/account/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
		},
		{
			name:     "prefix and key",
			opts:     awssecrets.Options{Prefix: "team/bridge/", KMSKeyID: "alias/supabridge"},
			ref:      vault.Ref{Environment: "local", Kind: vault.KindProject, ID: "acct/abcdefghijklmnopqrst"},
			wantName: "team/bridge/local/project/acct/abcdefghijklmnopqrst",
			wantKMS:  "alias/supabridge",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, smtest.Options{})
			v := newVault(t, s, tt.opts)
			if got := v.SecretName(tt.ref); got != tt.wantName {
				t.Errorf("SecretName = %q, want %q", got, tt.wantName)
			}
			if err := v.Put(ctx, tt.ref, []byte(`{"api_key":"k"}`)); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if err := v.Put(ctx, tt.ref, []byte(`{"api_key":"k2"}`)); err != nil {
				t.Fatalf("second Put: %v", err)
			}
			if names := s.Names(); !slices.Equal(names, []string{tt.wantName}) {
				t.Fatalf("secrets = %q, want exactly %q", names, tt.wantName)
			}
			sec, _ := s.Secret(tt.wantName)
			if sec.KmsKeyID != tt.wantKMS {
				t.Errorf("KmsKeyId = %q, want %q", sec.KmsKeyID, tt.wantKMS)
			}
			wantTags := []smtest.Tag{
				{Key: awssecrets.TagEnvironment, Value: tt.ref.Environment},
				{Key: awssecrets.TagKind, Value: tt.ref.Kind},
				{Key: awssecrets.TagID, Value: tt.ref.ID},
			}
			if !slices.Equal(sec.Tags, wantTags) {
				t.Errorf("tags = %v, want %v", sec.Tags, wantTags)
			}
			if !strings.HasPrefix(sec.ARN, "arn:aws:secretsmanager:us-east-1:123456789012:secret:"+tt.wantName+"-") {
				t.Errorf("ARN = %q", sec.ARN)
			}
			if s.Calls(smtest.OpCreateSecret) != 1 || s.Calls(smtest.OpPutSecretValue) != 2 {
				t.Errorf("CreateSecret %d times, PutSecretValue %d times; want 1 and 2 (create-or-put)",
					s.Calls(smtest.OpCreateSecret), s.Calls(smtest.OpPutSecretValue))
			}
		})
	}
}

func TestVersionsAndStaging(t *testing.T) {
	s := newServer(t, smtest.Options{})
	v := newVault(t, s, awssecrets.Options{})
	ref := vault.Ref{Environment: "e", Kind: vault.KindAccount, ID: "staged"}
	values := [][]byte{[]byte("one"), {0xff, 0x00, 0x01}, []byte("three")}
	for _, val := range values {
		if err := v.Put(ctx, ref, val); err != nil {
			t.Fatal(err)
		}
	}
	sec, _ := s.Secret(v.SecretName(ref))
	want := []smtest.Version{
		{Stages: nil, Binary: false},
		{Stages: []string{"AWSPREVIOUS"}, Binary: true},
		{Stages: []string{"AWSCURRENT"}, Binary: false},
	}
	if len(sec.Versions) != len(want) {
		t.Fatalf("%d versions, want %d", len(sec.Versions), len(want))
	}
	for i, ver := range sec.Versions {
		if !slices.Equal(ver.Stages, want[i].Stages) || ver.Binary != want[i].Binary {
			t.Errorf("version %d: stages %v binary %v, want %v %v", i, ver.Stages, ver.Binary, want[i].Stages, want[i].Binary)
		}
	}
	got, err := v.Get(ctx, ref)
	if err != nil || string(got) != "three" {
		t.Fatalf("Get = %q, %v; want three", got, err)
	}
}

// Another writer creates the secret between our PutSecretValue (not found)
// and our CreateSecret: ours must fail with ResourceExistsException and
// Put must then write over the other value.
func TestPutLosesCreateRace(t *testing.T) {
	s := newServer(t, smtest.Options{})
	v := newVault(t, s, awssecrets.Options{})
	other := s.Client()
	ref := vault.Ref{Environment: "e", Kind: vault.KindAccount, ID: "raced"}
	name := v.SecretName(ref)
	var fired atomic.Bool // the hook also sees the other writer's request
	s.SetHook(func(op, id string) {
		if op == smtest.OpCreateSecret && id == name && fired.CompareAndSwap(false, true) {
			_, err := other.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
				Name: aws.String(name), SecretString: aws.String("theirs"),
			})
			if err != nil {
				t.Errorf("the other writer's CreateSecret: %v", err)
			}
		}
	})
	if err := v.Put(ctx, ref, []byte("ours")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := v.Get(ctx, ref)
	if err != nil || string(got) != "ours" {
		t.Fatalf("Get = %q, %v; want ours", got, err)
	}
	if c, p := s.Calls(smtest.OpCreateSecret), s.Calls(smtest.OpPutSecretValue); c != 2 || p != 2 {
		t.Errorf("CreateSecret %d, PutSecretValue %d; want 2 and 2", c, p)
	}
}

// The secret disappears between Put's two steps the other way round: it
// existed, was deleted before PutSecretValue, and Put must create it.
func TestPutAfterConcurrentDelete(t *testing.T) {
	s := newServer(t, smtest.Options{})
	v := newVault(t, s, awssecrets.Options{})
	other := newVault(t, s, awssecrets.Options{})
	ref := vault.Ref{Environment: "e", Kind: vault.KindAccount, ID: "gone"}
	if err := v.Put(ctx, ref, []byte("first")); err != nil {
		t.Fatal(err)
	}
	var fired atomic.Bool
	s.SetHook(func(op, _ string) {
		if op == smtest.OpPutSecretValue && fired.CompareAndSwap(false, true) {
			if err := other.Delete(ctx, ref); err != nil {
				t.Errorf("concurrent Delete: %v", err)
			}
		}
	})
	if err := v.Put(ctx, ref, []byte("second")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := v.Get(ctx, ref)
	if err != nil || string(got) != "second" {
		t.Fatalf("Get = %q, %v; want second", got, err)
	}
}

func TestDeleteModes(t *testing.T) {
	tests := []struct {
		name       string
		recovery   int
		wantKept   bool // the secret still exists, scheduled for deletion
		wantForced bool
	}{
		{"default deletes without recovery", 0, false, false},
		{"recovery window schedules deletion", 7, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, smtest.Options{})
			v := newVault(t, s, awssecrets.Options{RecoveryWindowDays: tt.recovery})
			ref := vault.Ref{Environment: "e", Kind: vault.KindWebhook, ID: "w"}
			if err := v.Put(ctx, ref, []byte("signing-secret")); err != nil {
				t.Fatal(err)
			}
			if err := v.Delete(ctx, ref); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			sec, kept := s.Secret(v.SecretName(ref))
			if kept != tt.wantKept || (kept && (sec.DeletedDate.IsZero() || sec.ForcedDeletion != tt.wantForced)) {
				t.Fatalf("after Delete: kept=%v %+v", kept, sec)
			}
			if _, err := v.Get(ctx, ref); !errors.Is(err, vault.ErrNotFound) {
				t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
			}
			if err := v.Delete(ctx, ref); err != nil {
				t.Fatalf("second Delete: %v", err)
			}
			// Writing the ref again works in both modes (restoring a
			// scheduled deletion), and reads the new value.
			if err := v.Put(ctx, ref, []byte("new-secret")); err != nil {
				t.Fatalf("Put after Delete: %v", err)
			}
			got, err := v.Get(ctx, ref)
			if err != nil || string(got) != "new-secret" {
				t.Fatalf("Get = %q, %v; want new-secret", got, err)
			}
			if tt.wantKept && s.Calls(smtest.OpRestoreSecret) != 1 {
				t.Errorf("RestoreSecret called %d times, want 1", s.Calls(smtest.OpRestoreSecret))
			}
		})
	}
}

// A forced deletion keeps the name for a while; Put right after Delete
// waits it out instead of failing.
func TestPutWaitsForForcedDeletion(t *testing.T) {
	const lag = 300 * time.Millisecond
	s := newServer(t, smtest.Options{ForceDeleteLag: lag})
	v := newVault(t, s, awssecrets.Options{})
	ref := vault.Ref{Environment: "e", Kind: vault.KindAccount, ID: "reconnect"}
	if err := v.Put(ctx, ref, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := v.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := v.Get(ctx, ref); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Get during the deletion = %v, want ErrNotFound", err)
	}
	if err := v.Put(ctx, ref, []byte("new")); err != nil {
		t.Fatalf("Put during the deletion: %v", err)
	}
	if waited := time.Since(start); waited < lag/2 {
		t.Errorf("Put returned after %v, before the name could have been free", waited)
	}
	got, err := v.Get(ctx, ref)
	if err != nil || string(got) != "new" {
		t.Fatalf("Get = %q, %v; want new", got, err)
	}

	// A context that ends during the wait ends Put.
	if err := v.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := v.Put(short, ref, []byte("late")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put with a short deadline = %v, want DeadlineExceeded", err)
	}
}

func TestSecretWithoutValue(t *testing.T) {
	// A secret the vault did not make, with no value yet: GetSecretValue
	// answers ResourceNotFoundException for the missing AWSCURRENT.
	s := newServer(t, smtest.Options{})
	v := newVault(t, s, awssecrets.Options{})
	ref := vault.Ref{Environment: "e", Kind: vault.KindAccount, ID: "empty"}
	if _, err := s.Client().CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(v.SecretName(ref))}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(ctx, ref); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Get of a secret without a value = %v, want ErrNotFound", err)
	}
	if err := v.Put(ctx, ref, []byte("now")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got, err := v.Get(ctx, ref); err != nil || string(got) != "now" {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	s := newServer(t, smtest.Options{})
	for _, opts := range []awssecrets.Options{
		{Prefix: "no-slash"},
		{Prefix: "bad*chars/"},
		{Prefix: strings.Repeat("p", 60) + "/"},
		{RecoveryWindowDays: 3},
		{RecoveryWindowDays: 31},
		{RecoveryWindowDays: -1},
	} {
		if _, err := awssecrets.New(s.Client(), opts); err == nil {
			t.Errorf("New(%+v) succeeded", opts)
		}
	}
	if _, err := awssecrets.New(nil, awssecrets.Options{}); err == nil {
		t.Error("New(nil client) succeeded")
	}
}

// The SDK decodes the fake's errors into its typed errors, and the fake
// models ClientRequestToken idempotency, through the real client.
func TestTypedErrorsAndIdempotency(t *testing.T) {
	s := newServer(t, smtest.Options{})
	c := s.Client()
	name := "supabridge/e/account/typed"
	token := "11111111-2222-4333-8444-555555555555"

	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v1"), ClientRequestToken: aws.String(token)}); err != nil {
		t.Fatal(err)
	}
	// A retried create with the same token and value is accepted.
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v1"), ClientRequestToken: aws.String(token)}); err != nil {
		t.Errorf("retried CreateSecret: %v", err)
	}
	token2 := "11111111-2222-4333-8444-666666666666"
	out1, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String("v2"), ClientRequestToken: aws.String(token2)})
	if err != nil {
		t.Fatal(err)
	}
	out2, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String("v2"), ClientRequestToken: aws.String(token2)})
	if err != nil || aws.ToString(out2.VersionId) != aws.ToString(out1.VersionId) || aws.ToString(out1.VersionId) != token2 {
		t.Errorf("idempotent PutSecretValue: %v, versions %q and %q", err, aws.ToString(out1.VersionId), aws.ToString(out2.VersionId))
	}
	if sec, _ := s.Secret(name); len(sec.Versions) != 2 {
		t.Errorf("%d versions after a repeated token, want 2", len(sec.Versions))
	}

	tests := []struct {
		name string
		call func() error
		want any
	}{
		{"get missing", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")})
			return err
		}, &types.ResourceNotFoundException{}},
		{"put missing", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("nope"), SecretString: aws.String("x")})
			return err
		}, &types.ResourceNotFoundException{}},
		{"create existing", func() error {
			_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("x")})
			return err
		}, &types.ResourceExistsException{}},
		{"token reused for other data", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String("other"), ClientRequestToken: aws.String(token2)})
			return err
		}, &types.ResourceExistsException{}},
		{"both value fields", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String("x"), SecretBinary: []byte{1}})
			return err
		}, &types.InvalidParameterException{}},
		{"oversized value", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretBinary: make([]byte, 65537)})
			return err
		}, &types.InvalidParameterException{}},
		{"force with window", func() error {
			_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true), RecoveryWindowInDays: aws.Int64(7)})
			return err
		}, &types.InvalidParameterException{}},
		{"reserved tag", func() error {
			_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("t"), Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}})
			return err
		}, &types.InvalidParameterException{}},
		{"put while scheduled for deletion", func() error {
			if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
				return err
			}
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String("x")})
			return err
		}, &types.InvalidRequestException{}},
		{"create while scheduled for deletion", func() error {
			_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("x")})
			return err
		}, &types.InvalidRequestException{}},
		{"get while scheduled for deletion", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
			return err
		}, &types.InvalidRequestException{}},
	}
	for _, tt := range tests {
		err := tt.call()
		if !errorsAsType(err, tt.want) {
			t.Errorf("%s: error %v (%T), want %T", tt.name, err, err, tt.want)
		}
	}
}

func errorsAsType(err error, want any) bool {
	switch want.(type) {
	case *types.ResourceNotFoundException:
		var e *types.ResourceNotFoundException
		return errors.As(err, &e) && e.ErrorMessage() != ""
	case *types.ResourceExistsException:
		var e *types.ResourceExistsException
		return errors.As(err, &e) && e.ErrorMessage() != ""
	case *types.InvalidParameterException:
		var e *types.InvalidParameterException
		return errors.As(err, &e) && e.ErrorMessage() != ""
	case *types.InvalidRequestException:
		var e *types.InvalidRequestException
		return errors.As(err, &e) && e.ErrorMessage() != ""
	}
	return false
}

func TestWrongCredentialsFail(t *testing.T) {
	s := newServer(t, smtest.Options{})
	c := s.Client(func(o *secretsmanager.Options) {
		o.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIASMTESTEXAMPLE", SecretAccessKey: "wrong"}, nil
		})
	})
	v, err := awssecrets.New(c, awssecrets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	value := []byte("a-value-that-must-not-leak-0123456789")
	err = v.Put(ctx, vault.Ref{Environment: "e", Kind: vault.KindAccount, ID: "x"}, value)
	if err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Fatalf("Put with wrong credentials = %v, want InvalidSignatureException", err)
	}
	if bytes.Contains([]byte(err.Error()), value) {
		t.Fatalf("error contains the value: %v", err)
	}
}

func BenchmarkGet(b *testing.B) {
	s := newServer(b, smtest.Options{})
	vaulttest.BenchmarkGet(b, newVault(b, s, awssecrets.Options{}))
}
