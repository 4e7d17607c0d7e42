// Package smtest is an in-test AWS Secrets Manager endpoint: an httptest
// server that speaks the service's JSON 1.1 protocol for the operations the
// awssecrets vault uses (CreateSecret, PutSecretValue, GetSecretValue,
// DeleteSecret, DescribeSecret, RestoreSecret), so that the real
// aws-sdk-go-v2 client can be tested end to end without AWS.
//
// It is strict where a lenient fake would hide client bugs: requests must
// be POST / with Content-Type application/x-amz-json-1.1, a known
// X-Amz-Target, a valid SigV4 signature for the server's credentials, and a
// body with only the fields the SDK's own serializers write; anything else
// is a 4xx error with the service's error shape. It models versions with
// AWSCURRENT/AWSPREVIOUS staging, ClientRequestToken idempotency, tags, KMS
// key IDs, recovery windows and the asynchronous end of a forced deletion,
// and answers with the real error types (ResourceNotFoundException,
// ResourceExistsException, InvalidRequestException,
// InvalidParameterException) so that the SDK decodes them into its typed
// errors. It never puts a secret value in an error.
//
// smtest is test infrastructure; no deployed function imports it.
package smtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

const (
	signingName  = "secretsmanager"
	targetPrefix = "secretsmanager."
	contentType  = "application/x-amz-json-1.1"

	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"

	maxBody          = 1 << 20
	maxValue         = 65536
	maxNameLength    = 256
	maxVersions      = 100 // unlabeled versions beyond this are removed
	maxTags          = 50
	defaultRecovery  = 30
	defaultRegion    = "us-east-1"
	defaultAccountID = "123456789012"
)

// Operations the server implements, by X-Amz-Target suffix.
const (
	OpCreateSecret   = "CreateSecret"
	OpPutSecretValue = "PutSecretValue"
	OpGetSecretValue = "GetSecretValue"
	OpDeleteSecret   = "DeleteSecret"
	OpDescribeSecret = "DescribeSecret"
	OpRestoreSecret  = "RestoreSecret"
)

// Options configures NewServer. The zero value is usable.
type Options struct {
	// Region and AccountID appear in ARNs and the signature scope; empty
	// means us-east-1 and 123456789012.
	Region, AccountID string
	// AccessKeyID and SecretAccessKey are the only credentials accepted;
	// empty means a fixed test pair (Client uses whatever is set here).
	AccessKeyID, SecretAccessKey string
	// ForceDeleteLag is how long a secret deleted without recovery keeps
	// its name after DeleteSecret returns, as the service's asynchronous
	// deletion does ("If you delete a secret and then immediately create a
	// secret with the same name, use appropriate back off and retry").
	// During the lag the secret behaves as scheduled for deletion.
	ForceDeleteLag time.Duration
	// Now is the clock for dates and deletion windows; nil means
	// time.Now. Signatures are always checked against the real time, since
	// the SDK signs with it.
	Now func() time.Time
}

// Server is the fake endpoint. Its methods are safe for concurrent use.
type Server struct {
	// URL is the endpoint's base URL, for the client's BaseEndpoint.
	URL string

	opts Options
	hs   *httptest.Server

	mu      sync.Mutex
	secrets map[string]*secret // by name
	calls   map[string]int
	hook    func(op, secretID string)
}

type secret struct {
	name, arn   string
	kmsKeyID    string
	description string
	tags        []Tag
	created     time.Time
	changed     time.Time
	versions    []*version // oldest first
	deleted     time.Time  // zero: active
	purgeAt     time.Time  // with deleted: when the name is freed
	forced      bool
}

type version struct {
	id      string
	str     *string
	bin     []byte
	stages  []string
	created time.Time
}

// Tag is a secret's tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// NewServer starts a server; Close stops it.
func NewServer(opts Options) *Server {
	if opts.Region == "" {
		opts.Region = defaultRegion
	}
	if opts.AccountID == "" {
		opts.AccountID = defaultAccountID
	}
	if opts.AccessKeyID == "" {
		opts.AccessKeyID = "AKIASMTESTEXAMPLE"
	}
	if opts.SecretAccessKey == "" {
		opts.SecretAccessKey = "smtest/secret/access/key/EXAMPLE"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, secrets: map[string]*secret{}, calls: map[string]int{}}
	s.hs = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.hs.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.hs.Close() }

// Client returns a Secrets Manager client that talks to the server with the
// server's credentials. optFns adjust it further (for example the retryer).
func (s *Server) Client(optFns ...func(*secretsmanager.Options)) *secretsmanager.Client {
	creds := aws.Credentials{AccessKeyID: s.opts.AccessKeyID, SecretAccessKey: s.opts.SecretAccessKey, Source: "smtest"}
	return secretsmanager.New(secretsmanager.Options{
		Region:       s.opts.Region,
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   s.hs.Client(),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return creds, nil
		}),
	}, optFns...)
}

// Handler returns the server's HTTP handler, for fuzzing it in-process.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Calls reports how many requests for op were accepted (signed and well
// formed), whatever their outcome.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// SetHook makes f run before each accepted request is carried out, outside
// the server's lock, with the operation and the request's SecretId or Name.
// Tests use it to interleave another client's writes at an exact point.
func (s *Server) SetHook(f func(op, secretID string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = f
}

// Secret is a snapshot of a stored secret, for assertions.
type Secret struct {
	Name, ARN, KmsKeyID, Description string
	Tags                             []Tag
	Versions                         []Version // oldest first
	// DeletedDate is set while the secret is scheduled for deletion (or,
	// when ForcedDeletion, while its forced deletion finishes).
	DeletedDate    time.Time
	ForcedDeletion bool
}

// Version is a snapshot of one version. Its value is not included: tests
// read values through the API like any client.
type Version struct {
	ID     string
	Stages []string
	Binary bool // stored as SecretBinary rather than SecretString
}

// Secret returns a snapshot of the secret called name, if it exists (also
// while scheduled for deletion).
func (s *Server) Secret(name string) (Secret, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purge()
	sec := s.secrets[name]
	if sec == nil {
		return Secret{}, false
	}
	out := Secret{
		Name: sec.name, ARN: sec.arn, KmsKeyID: sec.kmsKeyID, Description: sec.description,
		Tags: slices.Clone(sec.tags), DeletedDate: sec.deleted, ForcedDeletion: sec.forced,
	}
	for _, v := range sec.versions {
		out.Versions = append(out.Versions, Version{ID: v.id, Stages: slices.Clone(v.stages), Binary: v.bin != nil})
	}
	return out, true
}

// Names lists the stored secrets' names, sorted.
func (s *Server) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purge()
	var names []string
	for n := range s.secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// apiError is an error response in the service's shape.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func errNotFound(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "ResourceNotFoundException", msg}
}
func errExists(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "ResourceExistsException", msg}
}
func errInvalidRequest(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidRequestException", msg}
}
func errInvalidParam(format string, a ...any) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParameterException", fmt.Sprintf(format, a...)}
}

var (
	errSecretNotFound = errNotFound("Secrets Manager can't find the specified secret.")
	errMarkedDeleted  = errInvalidRequest("You can't perform this operation on the secret because it was marked for deletion.")
)

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := s.handle(r)
	w.Header().Set("X-Amzn-RequestId", newUUID())
	w.Header().Set("Content-Type", contentType)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{http.StatusBadRequest, "SerializationException", err.Error()}
		}
		w.Header().Set("X-Amzn-ErrorType", ae.typ)
		w.WriteHeader(ae.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": ae.typ, "Message": ae.msg})
		return
	}
	_, _ = w.Write(body)
}

// handle returns the encoded response, made while the server's lock is
// held so that it cannot observe a later request's changes.
func (s *Server) handle(r *http.Request) ([]byte, error) {
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.URL.RawQuery != "" {
		return nil, &apiError{http.StatusNotFound, "UnknownOperationException", "only POST / is served"}
	}
	if ct := r.Header.Get("Content-Type"); ct != contentType {
		return nil, &apiError{http.StatusBadRequest, "SerializationException", fmt.Sprintf("Content-Type %q is not %s", ct, contentType)}
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if !ok || !slices.Contains([]string{OpCreateSecret, OpPutSecretValue, OpGetSecretValue, OpDeleteSecret, OpDescribeSecret, OpRestoreSecret}, op) {
		return nil, &apiError{http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("unknown X-Amz-Target %q", r.Header.Get("X-Amz-Target"))}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return nil, &apiError{http.StatusRequestEntityTooLarge, "SerializationException", "request body too large or unreadable"}
	}
	if err := s.verifySigV4(r, body, time.Now()); err != nil {
		return nil, &apiError{http.StatusBadRequest, "InvalidSignatureException", err.Error()}
	}

	var in request
	switch op {
	case OpCreateSecret:
		in = &createSecretInput{}
	case OpPutSecretValue:
		in = &putSecretValueInput{}
	case OpGetSecretValue:
		in = &getSecretValueInput{}
	case OpDeleteSecret:
		in = &deleteSecretInput{}
	case OpDescribeSecret:
		in = &secretIDInput{}
	case OpRestoreSecret:
		in = &secretIDInput{}
	}
	if err := exactKeys(body, reflect.TypeOf(in)); err != nil {
		return nil, &apiError{http.StatusBadRequest, "SerializationException", "malformed request body: " + err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(in); err != nil {
		// The decoder's message names the field, never its value.
		return nil, &apiError{http.StatusBadRequest, "SerializationException", "malformed request body: " + safeDecodeError(err)}
	}
	if dec.More() {
		return nil, &apiError{http.StatusBadRequest, "SerializationException", "trailing data after the request body"}
	}

	s.mu.Lock()
	s.calls[op]++
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		hook(op, in.id())
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.purge()
	var out any
	switch in := in.(type) {
	case *createSecretInput:
		out, err = s.createSecret(in)
	case *putSecretValueInput:
		out, err = s.putSecretValue(in)
	case *getSecretValueInput:
		out, err = s.getSecretValue(in)
	case *deleteSecretInput:
		out, err = s.deleteSecret(in)
	case *secretIDInput:
		if op == OpDescribeSecret {
			out, err = s.describeSecret(in)
		} else {
			out, err = s.restoreSecret(in)
		}
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// safeDecodeError keeps the parts of a JSON decoding error that cannot
// quote the request (field names and types, not values).
func safeDecodeError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %s: wrong type %s", typeErr.Field, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("syntax error at offset %d", syntaxErr.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return err.Error() // a field name from the request, not a value
	}
	return "invalid JSON"
}

// request inputs, with exactly the members the SDK's schemas define for
// each operation (service/secretsmanager schemas.go, v1.51.0). Members the
// SDK can send but this fake does not model are decoded so that they can
// be refused explicitly.
type request interface{ id() string }

type createSecretInput struct {
	Name                        *string         `json:"Name"`
	ClientRequestToken          *string         `json:"ClientRequestToken"`
	Description                 *string         `json:"Description"`
	KmsKeyId                    *string         `json:"KmsKeyId"`
	SecretBinary                []byte          `json:"SecretBinary"`
	SecretString                *string         `json:"SecretString"`
	Tags                        []Tag           `json:"Tags"`
	AddReplicaRegions           json.RawMessage `json:"AddReplicaRegions"`
	ForceOverwriteReplicaSecret *bool           `json:"ForceOverwriteReplicaSecret"`
	Type                        *string         `json:"Type"`
	CrossAccountPrimaryARN      *string         `json:"CrossAccountPrimaryARN"`
}

func (in *createSecretInput) id() string { return deref(in.Name) }

type putSecretValueInput struct {
	SecretId           *string  `json:"SecretId"`
	ClientRequestToken *string  `json:"ClientRequestToken"`
	SecretBinary       []byte   `json:"SecretBinary"`
	SecretString       *string  `json:"SecretString"`
	VersionStages      []string `json:"VersionStages"`
	RotationToken      *string  `json:"RotationToken"`
}

func (in *putSecretValueInput) id() string { return deref(in.SecretId) }

type getSecretValueInput struct {
	SecretId     *string `json:"SecretId"`
	VersionId    *string `json:"VersionId"`
	VersionStage *string `json:"VersionStage"`
}

func (in *getSecretValueInput) id() string { return deref(in.SecretId) }

type deleteSecretInput struct {
	SecretId                   *string `json:"SecretId"`
	RecoveryWindowInDays       *int64  `json:"RecoveryWindowInDays"`
	ForceDeleteWithoutRecovery *bool   `json:"ForceDeleteWithoutRecovery"`
}

func (in *deleteSecretInput) id() string { return deref(in.SecretId) }

type secretIDInput struct {
	SecretId *string `json:"SecretId"`
}

func (in *secretIDInput) id() string { return deref(in.SecretId) }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]+$`)

func (s *Server) createSecret(in *createSecretInput) (any, error) {
	switch {
	case in.AddReplicaRegions != nil, in.ForceOverwriteReplicaSecret != nil, in.Type != nil, in.CrossAccountPrimaryARN != nil:
		return nil, errInvalidParam("smtest does not model replication, secret types or cross-account replicas")
	case in.Name == nil:
		return nil, errInvalidParam("Name is required.")
	case len(*in.Name) > maxNameLength || !namePattern.MatchString(*in.Name):
		return nil, errInvalidParam("Name must be 1 to %d of the characters A-Z a-z 0-9 /_+=.@-.", maxNameLength)
	case in.Description != nil && len(*in.Description) > 2048:
		return nil, errInvalidParam("Description is longer than 2048 characters.")
	case in.KmsKeyId != nil && len(*in.KmsKeyId) > 2048:
		return nil, errInvalidParam("KmsKeyId is longer than 2048 characters.")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	hasValue, err := checkValue(in.SecretString, in.SecretBinary)
	if err != nil {
		return nil, err
	}
	if hasValue {
		if err := checkToken(in.ClientRequestToken); err != nil {
			return nil, err
		}
	}

	name := *in.Name
	if sec := s.secrets[name]; sec != nil {
		if !sec.deleted.IsZero() {
			return nil, errInvalidRequest("You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		// A retried create (same token, same value) succeeds unchanged.
		if hasValue {
			if v := sec.version(*in.ClientRequestToken); v != nil && v.sameValue(in.SecretString, in.SecretBinary) {
				return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id}, nil
			}
		}
		return nil, errExists(fmt.Sprintf("The operation failed because the secret %s already exists.", name))
	}

	now := s.opts.Now()
	sec := &secret{
		name:        name,
		arn:         fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.opts.Region, s.opts.AccountID, name, randomSuffix()),
		kmsKeyID:    deref(in.KmsKeyId),
		description: deref(in.Description),
		tags:        slices.Clone(in.Tags),
		created:     now,
		changed:     now,
	}
	s.secrets[name] = sec
	out := map[string]any{"ARN": sec.arn, "Name": sec.name}
	if hasValue {
		v := sec.addVersion(*in.ClientRequestToken, in.SecretString, in.SecretBinary, nil, now)
		out["VersionId"] = v.id
	}
	return out, nil
}

func (s *Server) putSecretValue(in *putSecretValueInput) (any, error) {
	if in.RotationToken != nil {
		return nil, errInvalidParam("smtest does not model rotation tokens")
	}
	sec, err := s.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	hasValue, err := checkValue(in.SecretString, in.SecretBinary)
	if err != nil {
		return nil, err
	}
	if !hasValue {
		return nil, errInvalidParam("You must provide either SecretString or SecretBinary.")
	}
	if err := checkToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	if in.VersionStages != nil {
		if len(in.VersionStages) < 1 || len(in.VersionStages) > 20 {
			return nil, errInvalidParam("VersionStages must have 1 to 20 members.")
		}
		for _, st := range in.VersionStages {
			if st == "" || len(st) > 256 {
				return nil, errInvalidParam("A staging label must be 1 to 256 characters.")
			}
		}
	}
	if !sec.deleted.IsZero() {
		return nil, errMarkedDeleted
	}
	if v := sec.version(*in.ClientRequestToken); v != nil {
		if !v.sameValue(in.SecretString, in.SecretBinary) {
			return nil, errExists("You can't modify an existing version, you can only create a new version.")
		}
		return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": v.stages}, nil
	}
	now := s.opts.Now()
	v := sec.addVersion(*in.ClientRequestToken, in.SecretString, in.SecretBinary, in.VersionStages, now)
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": v.stages}, nil
}

func (s *Server) getSecretValue(in *getSecretValueInput) (any, error) {
	sec, err := s.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	if !sec.deleted.IsZero() {
		return nil, errMarkedDeleted
	}
	var v *version
	switch {
	case in.VersionId != nil:
		v = sec.version(*in.VersionId)
		if v == nil {
			return nil, errNotFound("Secrets Manager can't find the specified secret value for VersionId: " + *in.VersionId)
		}
		if in.VersionStage != nil && !slices.Contains(v.stages, *in.VersionStage) {
			return nil, errInvalidParam("The VersionId and VersionStage don't refer to the same version.")
		}
	default:
		stage := stageCurrent
		if in.VersionStage != nil {
			stage = *in.VersionStage
		}
		v = sec.staged(stage)
		if v == nil {
			return nil, errNotFound("Secrets Manager can't find the specified secret value for staging label: " + stage)
		}
	}
	out := map[string]any{
		"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": v.stages,
		"CreatedDate": epoch(v.created),
	}
	if v.bin != nil {
		out["SecretBinary"] = v.bin // encoding/json writes base64, as the protocol wants
	} else {
		out["SecretString"] = *v.str
	}
	return out, nil
}

func (s *Server) deleteSecret(in *deleteSecretInput) (any, error) {
	force := in.ForceDeleteWithoutRecovery != nil && *in.ForceDeleteWithoutRecovery
	if force && in.RecoveryWindowInDays != nil {
		return nil, errInvalidParam("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	days := int64(defaultRecovery)
	if in.RecoveryWindowInDays != nil {
		days = *in.RecoveryWindowInDays
		if days < 7 || days > 30 {
			return nil, errInvalidParam("RecoveryWindowInDays must be between 7 and 30 days.")
		}
	}
	now := s.opts.Now()
	sec, err := s.find(in.SecretId)
	if err != nil {
		// A forced deletion of a missing secret does not report it.
		var ae *apiError
		if force && errors.As(err, &ae) && ae.typ == "ResourceNotFoundException" {
			return map[string]any{"Name": *in.SecretId, "DeletionDate": epoch(now)}, nil
		}
		return nil, err
	}
	switch {
	case force:
		sec.forced = true
		if sec.deleted.IsZero() {
			sec.deleted = now
		}
		sec.purgeAt = now.Add(s.opts.ForceDeleteLag)
		if s.opts.ForceDeleteLag <= 0 {
			delete(s.secrets, sec.name)
		}
	case !sec.deleted.IsZero():
		return nil, errInvalidRequest("You can't perform this operation on the secret because it was already scheduled for deletion.")
	default:
		sec.deleted = now
		sec.purgeAt = now.Add(time.Duration(days) * 24 * time.Hour)
	}
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "DeletionDate": epoch(sec.purgeAt)}, nil
}

func (s *Server) describeSecret(in *secretIDInput) (any, error) {
	sec, err := s.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	stages := map[string][]string{}
	for _, v := range sec.versions {
		if len(v.stages) > 0 {
			stages[v.id] = v.stages
		}
	}
	out := map[string]any{
		"ARN": sec.arn, "Name": sec.name, "CreatedDate": epoch(sec.created),
		"LastChangedDate": epoch(sec.changed), "VersionIdsToStages": stages,
	}
	if sec.kmsKeyID != "" {
		out["KmsKeyId"] = sec.kmsKeyID
	}
	if sec.description != "" {
		out["Description"] = sec.description
	}
	if len(sec.tags) > 0 {
		out["Tags"] = sec.tags
	}
	if !sec.deleted.IsZero() {
		out["DeletedDate"] = epoch(sec.deleted)
	}
	return out, nil
}

func (s *Server) restoreSecret(in *secretIDInput) (any, error) {
	sec, err := s.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	if sec.forced {
		return nil, errInvalidRequest("You can't restore a secret that is being deleted without recovery.")
	}
	sec.deleted, sec.purgeAt = time.Time{}, time.Time{}
	sec.changed = s.opts.Now()
	return map[string]any{"ARN": sec.arn, "Name": sec.name}, nil
}

// find resolves a SecretId (a name or a full ARN). Callers hold s.mu.
func (s *Server) find(id *string) (*secret, error) {
	if id == nil || *id == "" {
		return nil, errInvalidParam("SecretId is required.")
	}
	if len(*id) > 2048 {
		return nil, errInvalidParam("SecretId is longer than 2048 characters.")
	}
	if sec := s.secrets[*id]; sec != nil {
		return sec, nil
	}
	for _, sec := range s.secrets {
		if sec.arn == *id {
			return sec, nil
		}
	}
	return nil, errSecretNotFound
}

// purge frees the names whose deletion has run its course. Callers hold
// s.mu.
func (s *Server) purge() {
	now := s.opts.Now()
	for name, sec := range s.secrets {
		if !sec.deleted.IsZero() && !now.Before(sec.purgeAt) {
			delete(s.secrets, name)
		}
	}
}

func (sec *secret) version(id string) *version {
	for _, v := range sec.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

func (sec *secret) staged(stage string) *version {
	for _, v := range sec.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

// addVersion stores a new version with the given staging labels (default
// AWSCURRENT). Moving AWSCURRENT moves AWSPREVIOUS to the version that had
// it; unlabeled versions beyond maxVersions are dropped, oldest first.
func (sec *secret) addVersion(id string, str *string, bin []byte, stages []string, now time.Time) *version {
	if stages == nil {
		stages = []string{stageCurrent}
	}
	v := &version{id: id, str: str, bin: bytes.Clone(bin), created: now}
	for _, st := range stages {
		old := sec.staged(st)
		if old != nil {
			old.stages = slices.DeleteFunc(old.stages, func(x string) bool { return x == st })
		}
		if st == stageCurrent && old != nil {
			if prev := sec.staged(stagePrevious); prev != nil {
				prev.stages = slices.DeleteFunc(prev.stages, func(x string) bool { return x == stagePrevious })
			}
			old.stages = append(old.stages, stagePrevious)
		}
		if !slices.Contains(v.stages, st) {
			v.stages = append(v.stages, st)
		}
	}
	sec.versions = append(sec.versions, v)
	sec.changed = now
	for len(sec.versions) > maxVersions {
		i := slices.IndexFunc(sec.versions, func(v *version) bool { return len(v.stages) == 0 })
		if i < 0 {
			break
		}
		sec.versions = slices.Delete(sec.versions, i, i+1)
	}
	return v
}

func (v *version) sameValue(str *string, bin []byte) bool {
	if str != nil {
		return v.str != nil && *v.str == *str
	}
	return v.bin != nil && bytes.Equal(v.bin, bin)
}

// checkValue validates SecretString/SecretBinary and reports whether one
// is present.
func checkValue(str *string, bin []byte) (bool, error) {
	switch {
	case str != nil && bin != nil:
		return false, errInvalidParam("You can't specify both a binary secret value and a string secret value in the same secret.")
	case str != nil:
		if n := utf8.RuneCountInString(*str); n < 1 || n > maxValue {
			return false, errInvalidParam("SecretString must be 1 to %d characters; it has %d.", maxValue, n)
		}
		return true, nil
	case bin != nil:
		if n := len(bin); n < 1 || n > maxValue {
			return false, errInvalidParam("SecretBinary must be 1 to %d bytes; it has %d.", maxValue, n)
		}
		return true, nil
	}
	return false, nil
}

func checkToken(tok *string) error {
	if tok == nil {
		return errInvalidParam("ClientRequestToken is required (the SDK generates one).")
	}
	if n := len(*tok); n < 32 || n > 64 {
		return errInvalidParam("ClientRequestToken must be 32 to 64 characters; it has %d.", n)
	}
	return nil
}

func checkTags(tags []Tag) error {
	if len(tags) > maxTags {
		return errInvalidParam("A secret can have at most %d tags.", maxTags)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case len(t.Key) < 1 || len(t.Key) > 128:
			return errInvalidParam("A tag key must be 1 to 128 characters.")
		case len(t.Value) > 256:
			return errInvalidParam("A tag value must be at most 256 characters.")
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return errInvalidParam("Tag keys starting with aws: are reserved.")
		case seen[t.Key]:
			return errInvalidParam("Duplicate tag key %s.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// epoch renders a timestamp as the protocol does: seconds since the epoch,
// with a fraction.
func epoch(t time.Time) json.Number {
	return json.Number(fmt.Sprintf("%.3f", float64(t.UnixMilli())/1000))
}

func randomSuffix() string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
