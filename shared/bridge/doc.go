// Package bridge is Supabridge's domain: environments and their API keys,
// integrated accounts and the credentials behind them, link sessions,
// webhooks and the events delivered to them, and the errors every layer
// speaks.
//
// It imports nothing else of Supabridge. Storage, Supabase clients and HTTP
// adapters translate to and from these types at their edges.
package bridge
