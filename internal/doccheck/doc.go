// Package doccheck holds only tests: they keep the commands in README.md and
// docs/*.md working as written.
//
// Every fenced block marked sh, bash, shell or console is read as a shell
// script. Each centralmsp command in it (also spelled go run ./cmd/centralmsp)
// must name an existing subcommand and existing flags, as the command's own
// -h output lists them. Commands that need nothing but this machine (sim,
// demo, tenants, call, refresh, collect, plan, cost, bench, -h) are then run
// in-process against the embedded simulator, with small sizes and temporary
// directories substituted. Commands that need AWS (s3://, sm://, variables or
// <placeholders>) and blocks preceded by the line
//
//	<!-- doccheck: syntax-only -->
//
// are checked for their syntax only. make targets must exist in the
// Makefile; go test commands must name existing packages and tests; paths of
// this repository must exist. Synopsis lines (centralmsp ... in other blocks)
// and inline code spans are checked for subcommands and flags too. The
// README's Go program is built and run against the simulator.
package doccheck
