package store

import (
	"context"

	"github.com/supabridge/supabridge/shared/bridge"
)

func apiKeyItem(k *bridge.APIKey) *Item {
	return &Item{
		PK: "APIKEY#" + k.Hash, SK: "K",
		GSI1PK: "ENV#" + k.Environment + "#APIKEYS", GSI1SK: k.ID,
		Version: 1,
	}
}

// apiKeyRecord stores the hash, which APIKey's JSON form leaves out.
type apiKeyRecord struct {
	bridge.APIKey
	StoredHash string `json:"hash"`
}

// CreateAPIKey stores a new API key record (its hash, never the key).
func (s *Store) CreateAPIKey(ctx context.Context, k *bridge.APIKey) error {
	if k.Hash == "" || k.ID == "" || k.Environment == "" {
		return bridge.Errorf(bridge.EINVALID, "API key record is incomplete.")
	}
	prev := *k
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	if err := s.putJSON(ctx, apiKeyItem(k), apiKeyRecord{*k, k.Hash}, Condition{IfAbsent: true}); err != nil {
		*k = prev
		return mapErr(err, "API key")
	}
	return nil
}

// APIKeyByHash returns the key whose hash is hash, or ENOTFOUND.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*bridge.APIKey, error) {
	var r apiKeyRecord
	if _, err := s.getJSON(ctx, "APIKEY#"+hash, "K", &r); err != nil {
		return nil, mapErr(err, "API key")
	}
	k := r.APIKey
	k.Hash = r.StoredHash
	return &k, nil
}

// ListAPIKeys returns the environment's keys, oldest first (at most
// MaxLimit).
func (s *Store) ListAPIKeys(ctx context.Context, env string) ([]*bridge.APIKey, error) {
	recs, err := queryJSON[apiKeyRecord](ctx, s, Query{Index: IndexGSI1, PK: "ENV#" + env + "#APIKEYS", Limit: MaxLimit})
	if err != nil {
		return nil, err
	}
	out := make([]*bridge.APIKey, len(recs))
	for i, r := range recs {
		k := r.APIKey
		k.Hash = r.StoredHash
		out[i] = &k
	}
	return out, nil
}

// DeleteAPIKey removes the environment's key with id, or returns ENOTFOUND.
func (s *Store) DeleteAPIKey(ctx context.Context, env, id string) error {
	keys, err := s.ListAPIKeys(ctx, env)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.ID == id {
			return mapErr(s.b.Delete(ctx, "APIKEY#"+k.Hash, "K", Condition{}), "API key")
		}
	}
	return notFound("API key")
}
