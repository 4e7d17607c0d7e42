package realtime

import "context"

// NewDatabaseForTest creates a database on the package's test cluster and
// returns its superuser URL, for the external tests.
func NewDatabaseForTest(ctx context.Context, name string) (string, error) {
	if err := cluster.CreateDatabase(ctx, name); err != nil {
		return "", err
	}
	return cluster.URL(name), nil
}
