// Package templatecheck holds the tests that guard template.yaml: the security
// properties of the SAM application (least-privilege IAM in which every
// grant maps to the code path that uses it, an encrypted, private, TLS-only,
// versioned bucket with a lifecycle, a rotating customer-managed key for the
// token cache used only through Secrets Manager, an alarm topic on a key
// CloudWatch can use, a bounded collector concurrency, a referenced
// credentials secret), the shape of both
// functions (provided.al2023, arm64, bootstrap, JSON logs with retention, an
// on-failure destination, alarms), that every intrinsic reference resolves,
// that every CodeUri holds a main package, that the sample events in events/
// match the triggers, and that cfn-lint reports nothing.
//
// The package has no production code; run it with
//
//	go test ./internal/templatecheck
//
// Under CI (CI=true) a missing cfn-lint fails the test instead of skipping it.
package templatecheck
