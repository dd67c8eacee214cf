// Package auth is the door of `sagequeue serve`: who may call it and what
// each caller may do.
//
//   - Callers sign requests with AWS Signature Version 4, as every AWS SDK,
//     the AWS CLI and sagequeue's own CLI do, with access keys from an auth
//     file (LoadFile). Guard verifies the signature of every request against
//     them (canonical request including the body's hash, credential scope,
//     a clock skew of at most 15 minutes) and refuses as AWS does, with the
//     HTTP status and X-Amzn-ErrorType that SDKs recognise.
//   - The verified user's role decides the rest (Guard.Allow, an
//     api.Access): admins change environments, policies and queues and act
//     on any job; users submit to their queues and act on their own jobs;
//     everyone reads.
//   - The web dashboard logs in with an access key id and secret and then
//     carries a session cookie (HttpOnly, SameSite=Strict, Secure under
//     TLS) that only reads.
//
// The auth file is read again on SIGHUP (Guard.Reload): sessions of users
// who are gone, or whose secret changed, end.
package auth
