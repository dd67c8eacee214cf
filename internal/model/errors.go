package model

import (
	"errors"
	"fmt"
)

// ValidationError is a request that breaks a rule. Field is the request member
// in the dotted form a user would write it (retryStrategy.evaluateOnExit[2].action),
// Rule says what is wrong in words.
type ValidationError struct {
	Field string
	Rule  string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Rule
	}
	return e.Field + ": " + e.Rule
}

// Invalid returns a ValidationError for field.
func Invalid(field, rule string) error { return &ValidationError{Field: field, Rule: rule} }

// Invalidf is Invalid with a format.
func Invalidf(field, format string, args ...any) error {
	return &ValidationError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// IsValidation reports whether err is (or wraps) a ValidationError.
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

// TransitionError is an attempt to move a job along an edge that the state
// machine does not have.
type TransitionError struct {
	JobID    string
	From, To JobStatus
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("job %s: illegal transition %s -> %s", e.JobID, e.From, e.To)
}

// ErrIllegalTransition is matched by every TransitionError via errors.Is.
var ErrIllegalTransition = errors.New("illegal job state transition")

// Is makes errors.Is(err, ErrIllegalTransition) true for a TransitionError.
func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }
