package realtime

import (
	"context"
	"fmt"
)

// NewDatabaseForTest creates a fresh database on the package's test
// cluster, named after prefix and unique within the test binary (so -count
// works), and returns its superuser URL, for the external tests.
func NewDatabaseForTest(ctx context.Context, prefix string) (string, error) {
	name := fmt.Sprintf("%s_%d", prefix, dbSeq.Add(1))
	if err := cluster.CreateDatabase(ctx, name); err != nil {
		return "", err
	}
	return cluster.URL(name), nil
}
