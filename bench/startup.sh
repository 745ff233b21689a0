#!/usr/bin/env bash
# Start-up side by side (docs/performance.md, "Start-up"): a Go
# hello-world, tlsrpt --version, and tlsrpt filter storing one new small
# report into an existing SQLite store against the seed script on the same
# message, alternating, RUNS rounds, medians.
#
#   make bench-startup          (or: RUNS=200 ./bench/startup.sh)
#
# OLD=path/to/tlsrpt adds an older binary's --version and filter to the
# same rounds, to judge a change against the binary before it.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-200}
# The interpreter itself, not a version-manager shim.
PY=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
out=bench/out/startup
rm -rf "$out" && mkdir -p "$out/msgs" "$out/hello"
go build -o "$out/tlsrpt" ./cmd/tlsrpt
go build -o "$out/gen" ./bench/gen
printf 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello, world") }\n' >"$out/hello/main.go"
(cd "$out/hello" && go build -o hello main.go)
for i in $(seq 0 $((2 * RUNS))); do
	"$out/gen" details -n 3 -id "startup-$i" >"$out/msgs/$i.eml"
done
# The existing store: made by one filter run on a report of its own.
"$out/gen" details -n 3 -id startup-first >"$out/first.eml"
"$out/tlsrpt" filter --no-config --db "$out/store.db" <"$out/first.eml" >/dev/null
go run ./bench/startup -runs "$RUNS" -tlsrpt "$out/tlsrpt" -hello "$out/hello/hello" \
	-python "$PY" -seed bench/seed/tlsrpt.py -msgs "$out/msgs" -db "$out/store.db" ${OLD:+-old "$OLD"}
