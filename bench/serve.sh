#!/usr/bin/env bash
# Peak resident memory of `tlsrpt serve` under 32 concurrent POSTs of large
# reports (the target: under 512 MiB), and of 32 concurrent POSTs of the
# 160,000-empty-policies attack (refused with 413 before it is stored).
#
#   ./bench/serve.sh            (DETAILS=50000 CLIENTS=32)
set -euo pipefail
cd "$(dirname "$0")/.."
DETAILS=${DETAILS:-50000}
CLIENTS=${CLIENTS:-32}
# All clients here share 127.0.0.1: one client to --max-per-client (8),
# which would answer most of them 503. Real reporters come from many.
SERVE_FLAGS=${SERVE_FLAGS:---max-per-client 64}
PY=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
out=bench/out/serve
rm -rf "$out" && mkdir -p "$out"
go build -o "$out/tlsrpt" ./cmd/tlsrpt

"$PY" - "$out" "$DETAILS" "$CLIENTS" <<'PYEOF'
import gzip, json, sys
out, n, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def report(rid, policies):
    return {"organization-name": "Bench", "contact-info": "bench@example.net", "report-id": rid,
            "date-range": {"start-datetime": "2026-11-22T00:00:00Z", "end-datetime": "2026-11-22T23:59:59Z"},
            "policies": policies}
details = [{"result-type": "certificate-expired", "sending-mta-ip": "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255),
            "receiving-mx-hostname": "mx.example.com", "failed-session-count": 1} for i in range(n)]
for c in range(clients):
    big = report("big-%d" % c, [{"policy": {"policy-type": "sts", "policy-domain": "example.com"},
        "summary": {"total-successful-session-count": 0, "total-failure-session-count": n}, "failure-details": details}])
    open("%s/big-%d.json.gz" % (out, c), "wb").write(gzip.compress(json.dumps(big).encode(), 9))
empty = report("empty", [{"policy": {"policy-type": "no-policy-found", "policy-domain": "d%d.example" % i},
    "summary": {"total-successful-session-count": 0, "total-failure-session-count": 0}} for i in range(160000)])
open("%s/empty.json.gz" % out, "wb").write(gzip.compress(json.dumps(empty).encode(), 9))
PYEOF

run() { # label files...
	local label=$1; shift
	rm -f "$out/serve.db"*
	"$out/tlsrpt" serve --db "$out/serve.db" --listen 127.0.0.1:18460 $SERVE_FLAGS 2>"$out/serve.log" &
	local pid=$!
	for _ in $(seq 50); do curl -fs http://127.0.0.1:18460/healthz >/dev/null 2>&1 && break; sleep 0.1; done
	local start codes
	start=$(date +%s%N)
	codes=$(for f in "$@"; do
		curl -s -o /dev/null -w '%{http_code}\n' --data-binary "@$f" -H "Content-Type: application/tlsrpt+gzip" http://127.0.0.1:18460/ &
	done; wait)
	local ms=$((($(date +%s%N) - start) / 1000000))
	local hwm
	hwm=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status")
	kill "$pid"; wait "$pid" 2>/dev/null || true
	echo "| $label | $(echo "$codes" | sort | uniq -c | awk '{printf "%s x %s ", $1, $2}')| $ms ms | $hwm MiB |"
}
echo "| $CLIENTS concurrent POSTs | answers | wall | serve peak RSS |"
echo "|---|---|---|---|"
bigs=()
for c in $(seq 0 $((CLIENTS - 1))); do bigs+=("$out/big-$c.json.gz"); done
run "reports of $DETAILS details ($(($(stat -c %s "$out/big-0.json.gz") / 1024)) KiB gzip each)" "${bigs[@]}"
empties=()
for c in $(seq "$CLIENTS"); do empties+=("$out/empty.json.gz"); done
run "160,000 empty policies ($(($(stat -c %s "$out/empty.json.gz") / 1024)) KiB gzip)" "${empties[@]}"
