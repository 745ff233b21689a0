#!/usr/bin/env bash
# What the outcomes of redeemed addresses add to review --json over a year
# (10 reporters x 365 days x 55 details = 200,750 detail rows, every
# report marked authenticated): the same database without and with 1,000
# applied unbans in the audit log, run alternately, medians.
#
#   RUNS=31 ./bench/outcomes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-31}
out=bench/out/outcomes
rm -rf "$out" && mkdir -p "$out"
go build -o "$out/tlsrpt" ./cmd/tlsrpt
go build -o "$out/gen" ./bench/gen
"$out/gen" year -out "$out/year" -reporters 10
"$out/tlsrpt" import --db "$out/base.db" "$out/year" >/dev/null
sqlite3 "$out/base.db" "UPDATE reports SET auth_authenticated = 1, auth_method = 'dkim', auth_domain = reporter"
cp "$out/base.db" "$out/redeemed.db"
sqlite3 "$out/redeemed.db" "INSERT INTO actions (time, ip, host, backend, kind, target, command, applied, ok, result)
	SELECT (SELECT MIN(start_time) FROM reports) + (ABS(RANDOM()) % (300 * 86400)), ip, 'mx', 'fail2ban', 'unban', 'postfix', '', 1, 1, 'ok'
	FROM (SELECT DISTINCT sending_ip AS ip FROM failure_details WHERE sending_ip IS NOT NULL ORDER BY RANDOM() LIMIT 1000)"
run() {
	local s e
	s=$(date +%s%N)
	"$out/tlsrpt" review --db "$1" --json --no-bans --resolver 127.0.0.1:9 >/dev/null
	e=$(date +%s%N)
	echo $(((e - s) / 1000000))
}
a=() b=()
for _ in $(seq "$RUNS"); do
	a+=("$(run "$out/base.db")")
	b+=("$(run "$out/redeemed.db")")
done
med() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ma=$(med "${a[@]}") mb=$(med "${b[@]}")
echo "review --json, a year: no redeemed address $ma ms, 1,000 redeemed $mb ms (+$(((mb - ma) * 100 / ma))%), medians of $RUNS alternating runs"
