package admin

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
)

// MaxBatch is the most accounts one batch create makes.
const MaxBatch = 500

// MaxOrderID is the longest order id a manual claim accepts.
const MaxOrderID = 255

// FieldError is a rejected input, named by its JSON field or query parameter. The API answers
// it with 400; the CLI renders the same rule with its flag name through Flag.
type FieldError struct {
	Field string // "count"
	Or    string // the other field of a rule about two ("all": count or all), else ""
	Value string // the rejected value when the message names it ("0"), else ""
	Err   error  // what is wrong; may wrap a pool sentinel (pool.ErrUnknownTier)
}

func (e *FieldError) Error() string {
	name := e.Field
	if e.Or != "" {
		name += " or " + e.Or
	}
	if e.Value != "" {
		return name + " " + e.Value + ": " + e.Err.Error()
	}
	return name + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Flag returns the same error named as CLI flags: "--count 0: must be between 1 and 500",
// "--count or --all: required".
func (e *FieldError) Flag() error {
	f := &FieldError{Field: "--" + e.Field, Value: e.Value, Err: e.Err}
	if e.Or != "" {
		f.Or = "--" + e.Or
	}
	return f
}

func fieldErr(field, value, msg string) error {
	return &FieldError{Field: field, Value: value, Err: errors.New(msg)}
}

// validTier checks that tier is configured; the error wraps pool.ErrUnknownTier.
func validTier(tiers pool.Tiers, tier string) error {
	if tier == "" {
		return &FieldError{Field: "tier", Err: fmt.Errorf("%w: required (known: %v)", pool.ErrUnknownTier, tiers.Names())}
	}
	if _, err := tiers.Get(tier); err != nil {
		return &FieldError{Field: "tier", Err: err}
	}
	return nil
}

// ValidateBatch checks a batch create: 1–MaxBatch accounts of a configured tier, with a valid
// slug prefix (the caller substitutes the configured default for an empty one first).
func ValidateBatch(tiers pool.Tiers, count int, prefix, tier string) error {
	if count < 1 || count > MaxBatch {
		return fieldErr("count", strconv.Itoa(count), fmt.Sprintf("must be between 1 and %d", MaxBatch))
	}
	if err := pool.ValidatePrefix(prefix); err != nil {
		return &FieldError{Field: "prefix", Err: err}
	}
	return validTier(tiers, tier)
}

// ValidateExport checks an export and returns how many accounts to reserve, 0 meaning every
// ready one (the store's convention). Exported accounts are reserved for good, so how many is
// never implied: count N (≥ 1) exports at most N ready accounts, all every one of them, and
// exactly one of the two is given. Tier "" means every tier.
func ValidateExport(tiers pool.Tiers, tier string, count int, all bool) (int, error) {
	if tier != "" {
		if err := validTier(tiers, tier); err != nil {
			return 0, err
		}
	}
	switch {
	case count < 0:
		return 0, fieldErr("count", strconv.Itoa(count), "must be ≥ 1")
	case count > 0 && all:
		return 0, &FieldError{Field: "count", Or: "all", Err: errors.New("give one, not both")}
	case count == 0 && !all:
		return 0, &FieldError{Field: "count", Or: "all", Err: errors.New("required: exported accounts are reserved for good, " +
			"so give how many (≥ 1) or ask for all of them")}
	}
	return count, nil
}

// ValidateClaim checks a manual claim: an order id (the claim's idempotency key) of at most
// MaxOrderID bytes and a configured tier.
func ValidateClaim(tiers pool.Tiers, order, tier string) error {
	if order == "" {
		return fieldErr("order", "", "required")
	}
	if len(order) > MaxOrderID {
		return fieldErr("order", "", fmt.Sprintf("at most %d characters", MaxOrderID))
	}
	return validTier(tiers, tier)
}

// ValidateList checks an account listing (every argument optional; limit 0 = all) and returns
// the store filter it means.
func ValidateList(tiers pool.Tiers, tier, state string, limit int) (store.Filter, error) {
	f := store.Filter{Tier: tier, Limit: limit}
	if tier != "" {
		if err := validTier(tiers, tier); err != nil {
			return f, err
		}
	}
	if state != "" {
		st, err := pool.ParseState(state)
		if err != nil {
			return f, &FieldError{Field: "state", Err: err}
		}
		f.State = st
	}
	if limit < 0 {
		return f, fieldErr("limit", strconv.Itoa(limit), "must be ≥ 0")
	}
	return f, nil
}

// OrderStates lists the order states in lifecycle order.
var OrderStates = []store.OrderState{store.OrderHeld, store.OrderPending, store.OrderClaimed, store.OrderDelivered}

// ValidateOrderList checks an order listing (state optional; limit 0 = all) and returns the
// store filter it means.
func ValidateOrderList(state string, limit int) (store.OrderFilter, error) {
	f := store.OrderFilter{Limit: limit}
	if state != "" {
		for _, st := range OrderStates {
			if string(st) == state {
				f.State = st
			}
		}
		if f.State == "" {
			return f, &FieldError{Field: "state", Err: fmt.Errorf("unknown order state %q (want one of %v)", state, OrderStates)}
		}
	}
	if limit < 0 {
		return f, fieldErr("limit", strconv.Itoa(limit), "must be ≥ 0")
	}
	return f, nil
}
