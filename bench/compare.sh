#!/usr/bin/env bash
# Compares whole-process wall time and peak memory of `tlsrpt filter`
# (database write included: a new SQLite file each run, the worst case)
# with the seed script bench/seed/tlsrpt.py, on the same messages.
#
#   make bench-compare            (or: RUNS=50 ./bench/compare.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
out=bench/out
rm -rf "$out" && mkdir -p "$out"
go build -o "$out/tlsrpt" ./cmd/tlsrpt
# The interpreter itself, not a version-manager shim (pyenv's adds a
# quarter of a second per run, which is no fault of the seed).
PY=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}

# A 1 GiB gzip bomb in a report message (about 1 MiB compressed).
"$PY" - "$out/bomb.eml" <<'PYEOF'
import base64, gzip, io, sys
buf = io.BytesIO()
with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as z:
    chunk = b"\0" * (1 << 20)
    for _ in range(1024):
        z.write(chunk)
b64 = base64.encodebytes(buf.getvalue()).decode()
open(sys.argv[1], "w").write(
    "From: reporter@example.net\nSubject: bomb\nMIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=tlsrpt; boundary=b\n\n"
    "--b\nContent-Type: text/plain\n\nA report.\n--b\n"
    "Content-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\n"
    + b64 + "--b--\n")
PYEOF

# seconds for RUNS runs of a command on a message, divided per run (ms)
per_run_ms() {
	local msg=$1; shift
	local start end
	start=$(date +%s%N)
	for i in $(seq "$RUNS"); do
		"$@" <"$msg" >/dev/null 2>&1 || true
	done
	end=$(date +%s%N)
	echo $(( (end - start) / RUNS / 1000 ))
}
# peak resident memory (KiB) and wall seconds of one run
peak() {
	local msg=$1; shift
	/usr/bin/time -f '%M %e' "$@" <"$msg" 2>&1 >/dev/null | tail -n 1
}

n=0
tl_filter() { n=$((n + 1)); "$out/tlsrpt" filter --db "$out/db-$n.db"; }

printf '| message | seed µs/msg | tlsrpt µs/msg | ratio | seed peak KiB | tlsrpt peak KiB |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
total_seed=0 total_tl=0
for msg in testdata/corpus/*.eml filter/testdata/two-reports.eml filter/testdata/latin1-qp-text.eml; do
	s=$(per_run_ms "$msg" "$PY" bench/seed/tlsrpt.py)
	t=$(per_run_ms "$msg" bash -c "exec $out/tlsrpt filter --db $out/db-\$RANDOM\$RANDOM.db")
	sp=$(peak "$msg" "$PY" bench/seed/tlsrpt.py | cut -d' ' -f1)
	tp=$(peak "$msg" "$out/tlsrpt" filter --db "$out/peak.db" | cut -d' ' -f1)
	total_seed=$((total_seed + s)); total_tl=$((total_tl + t))
	printf '| %s | %d | %d | %s | %d | %d |\n' "$(basename "$msg")" "$s" "$t" \
		"$(awk -v a="$t" -v b="$s" 'BEGIN{printf "%.3f", a/b}')" "$sp" "$tp"
done
printf '| **all** | %d | %d | %s | | |\n' "$total_seed" "$total_tl" \
	"$(awk -v a="$total_tl" -v b="$total_seed" 'BEGIN{printf "%.3f", a/b}')"
echo
echo '1 GiB gzip bomb (one run each): peak KiB, wall s'
echo "seed:   $(peak "$out/bomb.eml" "$PY" bench/seed/tlsrpt.py)"
echo "tlsrpt: $(peak "$out/bomb.eml" "$out/tlsrpt" filter --db "$out/bomb.db")"
