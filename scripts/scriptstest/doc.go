// Package scriptstest tests the shell scripts scripts/deploy and
// scripts/smoke from Go, so that they run in go test ./...:
//
//   - scripts/deploy --dry-run against golden files, with no AWS CLI on
//     PATH and no credentials; its early failures (no CLI, no credentials,
//     no bucket, a bucket in another region) and a whole deployment against
//     a fake aws command that records its calls;
//   - scripts/smoke against local mode (the real bootstrap on the built-in
//     Bedrock emulator), and against small HTTP servers that stream well,
//     send everything in one burst, cut the stream or never say done.
//
// The package has no non-test code.
package scriptstest
