package auth

import (
	"encoding/json"
	"net/http"
)

// awsError is a refusal as AWS's JSON services answer it: an HTTP status, an
// X-Amzn-ErrorType the SDKs turn into the error's code, and a message.
type awsError struct {
	status int
	code   string
	msg    string
	// reason is what the log says beyond msg (never a secret).
	reason string
}

func (e *awsError) Error() string { return e.code + ": " + e.msg }

// The refusals, with the status and message AWS uses for each.
func missingToken() *awsError {
	return &awsError{status: http.StatusForbidden, code: "MissingAuthenticationTokenException", msg: "Missing Authentication Token"}
}

func incompleteSignature(msg string) *awsError {
	return &awsError{status: http.StatusBadRequest, code: "IncompleteSignatureException", msg: msg}
}

func unrecognizedClient(reason string) *awsError {
	return &awsError{status: http.StatusForbidden, code: "UnrecognizedClientException", msg: "The security token included in the request is invalid.", reason: reason}
}

func invalidSignature(msg string) *awsError {
	return &awsError{status: http.StatusForbidden, code: "InvalidSignatureException", msg: msg}
}

func expiredToken(msg string) *awsError {
	return &awsError{status: http.StatusForbidden, code: "ExpiredTokenException", msg: msg}
}

const signatureMismatch = "The request signature we calculated does not match the signature you provided. " +
	"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

func writeAWSError(w http.ResponseWriter, e *awsError) {
	h := w.Header()
	h.Set("X-Amzn-ErrorType", e.code)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "message": e.msg})
}
