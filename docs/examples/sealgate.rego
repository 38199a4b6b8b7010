# Example OPA policy for sealgate's OPA Data API adapter (docs/PDP.md).
# Load with: opa run --server --tls-cert-file ... --authentication=tls sealgate.rego
# sealgate POSTs /v1/data/sealgate/authz with {"input": {"subject": {...}, "requests": [...]}}
# and reads result.decisions.
package sealgate.authz

import rego.v1

decisions := [decision(r) | some r in input.requests]

decision(r) := {"index": r.index, "allow": true, "obligations": {"ttl_seconds": 300, "max_uses": 5}} if {
	allowed(r)
} else := {"index": r.index, "allow": false, "reason": "OPA_DENIED"}

allowed(r) if {
	input.subject.spiffe_id == "spiffe://acme/payments"
	r.action == "use"
	startswith(r.uri, "secret://acme/kv/app/")
}
