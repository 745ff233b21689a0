#!/usr/bin/env bash
# Start-up side by side (docs/performance.md, "Start-up"): a Go
# hello-world, tlsrpt --version, and tlsrpt filter storing one new small
# report into an existing SQLite store against the seed script on the same
# message, alternating, RUNS rounds, medians.
#
#   make bench-startup          (or: RUNS=200 ./bench/startup.sh)
#
# OLD=path/to/tlsrpt adds an older binary's --version and filter to the
# same rounds, to judge a change against the binary before it. Two floors
# run in the same rounds: a hello-world linking every library tlsrpt
# links (under --version) and bench/startup/sqlfloor, which only keeps the
# message as one row of a SQLite file (under the filter).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-200}
# The interpreter itself, not a version-manager shim.
PY=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
out=bench/out/startup
rm -rf "$out" && mkdir -p "$out/msgs" "$out/_hello"
go build -o "$out/tlsrpt" ./cmd/tlsrpt
go build -o "$out/gen" ./bench/gen
printf 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello, world") }\n' >"$out/_hello/main.go"
(cd "$out/_hello" && go build -o hello main.go)
# The floor under --version: a hello-world with a blank import of every
# package tlsrpt links from outside the module (those another module
# keeps internal come with the ones that import them). Its folder starts
# with "_" so that go mod tidy and ./... pass over it.
mkdir -p "$out/_libs"
{
	printf 'package main\n\nimport (\n\t"fmt"\n\n'
	go list -deps ./cmd/tlsrpt | grep -v -E '(^|/)internal(/|$)|^vendor/|^github.com/tlsrpt/tlsrpt' | sort | sed 's/.*/\t_ "&"/'
	printf ')\n\nfunc main() { fmt.Println("hello, world") }\n'
} >"$out/_libs/main.go"
(cd "$out/_libs" && go build -o libs main.go)
# The floor under the filter, writing into a store of its own.
go build -o "$out/sqlfloor" ./bench/startup/sqlfloor
"$out/sqlfloor" "$out/floor.db" <"$out/_hello/main.go" >/dev/null
for i in $(seq 0 $((2 * RUNS))); do
	"$out/gen" details -n 3 -id "startup-$i" >"$out/msgs/$i.eml"
done
# The existing store: made by one filter run on a report of its own.
"$out/gen" details -n 3 -id startup-first >"$out/first.eml"
"$out/tlsrpt" filter --no-config --db "$out/store.db" <"$out/first.eml" >/dev/null
go run ./bench/startup -runs "$RUNS" -tlsrpt "$out/tlsrpt" -hello "$out/_hello/hello" \
	-python "$PY" -seed bench/seed/tlsrpt.py -msgs "$out/msgs" -db "$out/store.db" \
	-libs "$out/_libs/libs" -sqlfloor "$out/sqlfloor" -floordb "$out/floor.db" ${OLD:+-old "$OLD"}
