#!/usr/bin/env bash
# Whole-process scale figures (docs/performance.md), side by side with the
# seed script where it can do the same work: median wall time and peak
# resident memory of RUNS runs each, measured with /usr/bin/time.
#
#   make bench-scale                 (or: RUNS=5 BIG=1 ./bench/scale.sh)
#
# BIG=1 adds the 1M-row database (50 reporters x 365 days x 55 details).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
# The interpreter itself, not a version-manager shim (pyenv's adds a
# quarter of a second per run, which is no fault of the seed).
PY=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
out=bench/out/scale
rm -rf "$out" && mkdir -p "$out"
go build -o "$out/tlsrpt" ./cmd/tlsrpt
go build -o "$out/gen" ./bench/gen
tl="$out/tlsrpt"

# median of RUNS runs of a command reading $1 on stdin: "ms MiB"
measure() {
	local in=$1; shift
	local i times=() mems=()
	for i in $(seq "$RUNS"); do
		local r
		r=$(/usr/bin/time -f '%e %M' "$@" <"$in" 2>&1 >/dev/null | tail -n 1)
		times+=("$(awk -v s="${r% *}" 'BEGIN{printf "%d", s*1000}')")
		mems+=("${r#* }")
	done
	local t m
	t=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
	m=$(printf '%s\n' "${mems[@]}" | sort -n | tail -n 1)
	echo "$t $((m / 1024))"
}

row() { printf '| %s | %s | %s |\n' "$1" "$2" "$3"; }
fmt() { [ -n "$1" ] && echo "${1% *} ms, ${1#* } MiB" || echo "–"; }

echo "| work | seed script | tlsrpt |"
echo "|---|---|---|"

# The filter, database write included (a fresh SQLite file per run).
small=testdata/corpus/14-tlsrptdigest-google-failure.eml
row "one small report message (fresh database)" \
	"$(fmt "$(measure "$small" "$PY" bench/seed/tlsrpt.py)")" \
	"$(fmt "$(measure "$small" bash -c "exec $tl filter --db $out/small-\$\$.db")")"
for n in 1000 10000 50000; do
	"$out/gen" details -n "$n" >"$out/details-$n.eml"
	s=$(measure "$out/details-$n.eml" "$PY" bench/seed/tlsrpt.py)
	t=$(measure "$out/details-$n.eml" bash -c "exec $tl filter --db $out/d$n-\$\$.db")
	size=$("$tl" filter --db "$out/size-$n.db" <"$out/details-$n.eml" | wc -c)
	orig=$(wc -c <"$out/details-$n.eml")
	row "$n failure details" "$(fmt "$s")" "$(fmt "$t"), $(((size - orig) / 1024)) KiB added"
done
"$out/gen" packed -n 200000 >"$out/packed.eml"
t=$(measure "$out/packed.eml" bash -c "exec $tl filter --db $out/packed-\$\$.db")
row "200,000 details packed in a $(($(wc -c <"$out/packed.eml") / 1024)) KiB message (refused past --max-details)" "–" "$(fmt "$t")"
for kb in 150 300 600 1000; do
	"$out/gen" folded -kb "$kb" >"$out/folded-$kb.eml"
	row "a $kb KiB message of folded header lines" "–" \
		"$(fmt "$(measure "$out/folded-$kb.eml" bash -c "exec $tl filter --db $out/f$kb-\$\$.db")")"
done

# A year of reports, imported once, then reviewed.
year() { # name reporters
	local name=$1 reporters=$2
	"$out/gen" year -out "$out/$name" -reporters "$reporters"
	"$tl" import --db "$out/$name.db" "$out/$name" >/dev/null
	local rows
	rows=$((reporters * 365 * 55))
	row "review --json, $rows detail rows" "–" \
		"$(fmt "$(measure /dev/null "$tl" review --db "$out/$name.db" --json --no-bans --resolver 127.0.0.1:9)")"
	row "review --since 7d, $rows detail rows" "–" \
		"$(fmt "$(measure /dev/null "$tl" review --db "$out/$name.db" --since 7d --no-bans --resolver 127.0.0.1:9)")"
	row "redeem plan, $rows detail rows" "–" \
		"$(fmt "$(measure /dev/null "$tl" redeem --db "$out/$name.db" --backend iptables --resolver 127.0.0.1:9)")"
}
year year 10
if [ "${BIG:-}" = 1 ]; then
	year year1m 50
fi

# PostgreSQL (PG_URL=postgres://... of an empty database on a local
# server): the filter per message and review over the year, beside SQLite.
if [ -n "${PG_URL:-}" ]; then
	n=${PG_MESSAGES:-50}
	mkdir -p "$out/msgs"
	for i in $(seq "$n"); do "$out/gen" details -n 10 -id "pg-$i" >"$out/msgs/$i.eml"; done
	per_message() { # db: median ms per distinct message into one store
		local db=$1 i t times=()
		for i in $(seq "$n"); do
			t=$(/usr/bin/time -f '%e' "$tl" filter --db "$db" <"$out/msgs/$i.eml" 2>&1 >/dev/null | tail -n 1)
			times+=("$(awk -v s="$t" 'BEGIN{printf "%d", s*1000}')")
		done
		printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'
	}
	row "filter, one 10-detail report message, into a store of many (median of $n)" \
		"SQLite: $(per_message "$out/permsg.db") ms" "PostgreSQL: $(per_message "$PG_URL") ms"
	"$tl" import --db "$PG_URL" "$out/year" >/dev/null
	row "review --json, year on PostgreSQL" "SQLite: $(fmt "$(measure /dev/null "$tl" review --db "$out/year.db" --json --no-bans --resolver 127.0.0.1:9)")" \
		"PostgreSQL: $(fmt "$(measure /dev/null "$tl" review --db "$PG_URL" --json --no-bans --resolver 127.0.0.1:9)")"
	row "review --since 7d, year on PostgreSQL" "SQLite: $(fmt "$(measure /dev/null "$tl" review --db "$out/year.db" --since 7d --no-bans --resolver 127.0.0.1:9)")" \
		"PostgreSQL: $(fmt "$(measure /dev/null "$tl" review --db "$PG_URL" --since 7d --no-bans --resolver 127.0.0.1:9)")"
fi
