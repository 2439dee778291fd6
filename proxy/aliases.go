package proxy

import "subgate/proxy/upstream"

// Account is an upstream account as the gateway is given it
// (upstream.Account: the rooms below proxy need it too). An alias, not a
// copy.
type Account = upstream.Account
