package jobs

// Account jobs.

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

// SuspendAccountArgs stops the tenant of a sold account the operator retired with a grace
// period (`poold retire --force`): its container goes, its data stays. Keyed by account, so
// manual sales without an order are covered too.
type SuspendAccountArgs struct {
	AccountID int64 `json:"account_id"`
}

// Kind implements river.JobArgs.
func (SuspendAccountArgs) Kind() string { return "account_suspend" }

// RetireAccountArgs retires (and so destroys, through the teardown job) an account the operator
// retired with a grace period, once the grace is over — unless it is no longer waiting for that
// retirement (retired at once meanwhile).
type RetireAccountArgs struct {
	AccountID int64 `json:"account_id"`
	RetireAt  int64 `json:"retire_at"` // Unix ms of the retirement this job belongs to
}

// Kind implements river.JobArgs.
func (RetireAccountArgs) Kind() string { return "account_retire" }

// Order jobs.

// DeliverArgs sends an order's credentials e-mail. Resend > 0 is the n-th resend (its own job
// and dedupe key).
type DeliverArgs struct {
	OrderID string `json:"order_id"`
	Resend  int    `json:"resend,omitempty"`
}

// Kind implements river.JobArgs.
func (DeliverArgs) Kind() string { return "order_deliver" }

// NoticeArgs sends one payment-failed notice (one per failed invoice).
type NoticeArgs struct {
	OrderID    string `json:"order_id"`
	InvoiceID  string `json:"invoice_id"`
	Email      string `json:"email"`
	Name       string `json:"name,omitempty"`
	Tier       string `json:"tier,omitempty"`
	BillingURL string `json:"billing_url,omitempty"`
}

// Kind implements river.JobArgs.
func (NoticeArgs) Kind() string { return "order_payment_failed" }

// ClaimPendingArgs claims an account for a pending order once one is ready.
type ClaimPendingArgs struct {
	OrderID string `json:"order_id"`
}

// Kind implements river.JobArgs.
func (ClaimPendingArgs) Kind() string { return "order_claim_pending" }

// SyncArgs brings an order's tenant in line with its subscription's newest status: canceled →
// suspended (then destroyed after the grace period), active → running.
type SyncArgs struct {
	OrderID string `json:"order_id"`
}

// Kind implements river.JobArgs.
func (SyncArgs) Kind() string { return "order_subscription_sync" }

// RetireArgs destroys a suspended tenant once its grace period is over, unless it was resumed
// (or suspended again later) meanwhile.
type RetireArgs struct {
	OrderID     string `json:"order_id"`
	SuspendedAt int64  `json:"suspended_at"` // Unix ms of the suspension this teardown belongs to
}

// Kind implements river.JobArgs.
func (RetireArgs) Kind() string { return "order_retire" }

// Plan change jobs (a sold account moved to another tier).

// PlanApplyArgs re-applies the stack of an account whose tier changed (same stack, same data
// volume, the new tier's settings) and records the generation it runs.
type PlanApplyArgs struct {
	ChangeID int64 `json:"change_id"`
}

// Kind implements river.JobArgs.
func (PlanApplyArgs) Kind() string { return "plan_apply" }

// PlanNoticeArgs e-mails the customer of a downgrade which custom domains beyond the new
// allowance will be detached, and when.
type PlanNoticeArgs struct {
	ChangeID int64 `json:"change_id"`
}

// Kind implements river.JobArgs.
func (PlanNoticeArgs) Kind() string { return "plan_notice" }

// PlanDetachArgs detaches, once the notice period is over, the custom domains beyond the
// allowance of the account's tier at that time.
type PlanDetachArgs struct {
	ChangeID int64 `json:"change_id"`
}

// Kind implements river.JobArgs.
func (PlanDetachArgs) Kind() string { return "plan_detach" }
