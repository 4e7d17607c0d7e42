package userdir

import _ "embed"

//go:embed schema.sql
var schemaSQL string

// Schema returns the default directory schema (schema.sql): the tables the
// project plane reads and writes, their grants, row-level security policies
// built on the role assignments, and an example tenant table. Customers
// apply it once per project; tests apply it to the local Supabase.
func Schema() string { return schemaSQL }
