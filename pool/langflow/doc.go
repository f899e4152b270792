// Package langflow talks to one Langflow tenant over its REST API and decides when a tenant is
// ready to sell.
//
// [Client] wraps the few endpoints tenantpool needs (GET /health_check, POST /api/v1/login,
// POST /api/v1/users/, GET /api/v1/users/, GET /api/v1/users/whoami, PATCH /api/v1/users/{id})
// with per-attempt timeouts, retries only where a retry cannot do harm, and typed errors
// ([ErrUnauthorized], [ErrConflict], [ErrUnavailable], [ErrNotFound]) that callers test with
// errors.Is; every failure is an [*Error] carrying the operation, the HTTP status and Langflow's
// "detail", with any secret that was sent in the request redacted from it.
//
// [Gate] is the readiness gate: [Gate.WaitHealthy] polls /health_check (never /health, which
// uvicorn answers before Langflow is up) on an injected clock until it answers
// {"status":"ok"} or a deadline passes; [Gate.EnsureCustomer] creates, activates and proves the
// customer login, idempotently; [Gate.RotateCustomer] hands a sold account new credentials and
// proves the old ones are dead.
//
// Retry safety, decided per call:
//
//   - GET /health_check, GET /api/v1/users/, whoami: read-only, retried on transport errors,
//     429 and 5xx.
//   - POST /api/v1/login: changes only last_login_at, retried like a read.
//   - PATCH /api/v1/users/{id}: sets absolute values, so repeating it is harmless; retried like a
//     read.
//   - POST /api/v1/users/: not idempotent, so the client retries it only when the connection
//     could not be made (a dial error: the request never left). Any other failure is returned as
//     is. Idempotency is restored one level up: usernames are unique, so [Gate.EnsureCustomer]
//     treats "username taken" as "a previous attempt already created it", looks the user up and
//     resets its password. A job retried after a crash or a lost response therefore converges on
//     one user.
//
// Secrets: passwords and tokens never appear in an error, in a log line, or in a URL. [Token]
// and [Credentials] redact themselves when formatted or logged.
package langflow
