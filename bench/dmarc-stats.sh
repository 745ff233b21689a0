#!/usr/bin/env bash
# Whole-process cost of `tlsrpt stats --source both` (and --source dmarc)
# over a year of daily reports from 50 reporters: 18,250 DMARC aggregate
# reports of 10 records and 18,250 TLS reports. The store's benchmark
# builds the database (BenchmarkSideBySideYear, which checks its totals);
# each command then runs RUNS times: the median wall time, and the median
# CPU time (user + system), which a machine shared with other work
# inflates far less. Peak resident memory is the largest seen.
#
#   RUNS=9 ./bench/dmarc-stats.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-9}
out=bench/out/dmarc
mkdir -p "$out"
db=$PWD/$out/year.db
if [ ! -e "$db" ]; then
	TLSRPT_DMARC_YEAR_DB=$db go test -count=1 -run '^$' -bench 'SideBySideYear/week' -benchtime 1x ./store/ >/dev/null
fi
go build -o "$out/tlsrpt" ./cmd/tlsrpt

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() {
	local name=$1; shift
	: >"$out/times"
	for _ in $(seq "$RUNS"); do
		/usr/bin/time -f '%e %U %S %M' -a -o "$out/times" "$out/tlsrpt" "$@" --db "$db" >/dev/null
	done
	local wall cpu rss
	wall=$(awk '{print $1}' "$out/times" | median)
	cpu=$(awk '{printf "%.2f\n", $2 + $3}' "$out/times" | median)
	rss=$(awk '{print $4}' "$out/times" | sort -n | tail -1)
	printf '%-40s wall %5.2f s  cpu %5.2f s  %d MiB   (median of %d; load %s)\n' \
		"$name" "$wall" "$cpu" $((rss / 1024)) "$RUNS" "$(cut -d' ' -f1 /proc/loadavg)"
}

measure "stats --source both (by day)" stats --source both
measure "stats --source both --by week" stats --source both --by week
measure "stats --source both --json" stats --source both --json
measure "stats --source dmarc (by day)" stats --source dmarc
measure "stats (TLS, by day, reporter)" stats --group reporter
