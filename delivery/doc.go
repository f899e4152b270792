// Package delivery renders and sends the e-mails that tenantpool sends: to customers, the
// credentials of a freshly claimed account and the notice that a payment failed; to the
// operator, the alert that a tenant is flagged as unhealthy.
//
// Rendering: each [Kind] has three templates (subject, plain text, HTML) embedded in the binary.
// An operator can replace any of them by putting a file of the same name in a directory
// ([LoadTemplates]); every template is parsed and test-rendered at load time, so a broken
// override stops the daemon at start-up instead of failing a customer's e-mail later. The HTML
// part uses html/template, so customer-supplied values are escaped.
//
// Sending: a [Sender] makes exactly one SMTP attempt per [Sender.Send] call. Retrying belongs to
// the durable job queue of the daemon, which asks [IsPermanent] whether another attempt can
// help (the daemon retries e-mails on the schedule of pool/jobs). The queue keys the job by
// [Message.DedupeKey]; the same key also yields the Message-ID header ([Message.MessageID]), so an
// e-mail sent again after a crash (SMTP accepted it but the acknowledgement was lost) carries the
// same Message-ID and is recognisable as a duplicate.
//
// Passwords (the SMTP password and the customer's) never appear in an error or a log line.
package delivery
