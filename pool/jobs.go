package pool

// Durable job arguments (river). The store inserts them in the same transaction as the row
// change that needs them, so no job is ever lost and none runs for a change that rolled back.

// QueueProvision is the river queue of provisioning jobs; its worker count bounds concurrent
// provisioning across tiers.
const QueueProvision = "provision"

// ProvisionArgs asks for one account to be provisioned and made ready.
type ProvisionArgs struct {
	AccountID int64 `json:"account_id"`
}

// Kind implements river.JobArgs.
func (ProvisionArgs) Kind() string { return "provision" }

// DestroyArgs asks for one account's infrastructure to be torn down.
type DestroyArgs struct {
	AccountID int64 `json:"account_id"`
}

// Kind implements river.JobArgs.
func (DestroyArgs) Kind() string { return "destroy" }
