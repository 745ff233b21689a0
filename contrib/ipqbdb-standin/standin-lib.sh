# Shared code of the ipqbdb STAND-IN scripts (ibd-ban, ibd-del, ibd-white).
# These are NOT ipqbdb: they only mimic the command lines tlsrpt uses, for
# tests, keeping a text database. Sourced by the scripts; not executable.
#
# Environment:
#   IPQBDB_STANDIN_DIR  required; calls.log (one line per call: program and
#                       arguments) goes here, and the databases too unless
#                       --db-path DIR is given.
# Databases (text, one record a line, address first, tab separated):
#   block.txt  ADDR <tab> COUNT <tab> REASON
#   white.txt  ADDR <tab> whitelisted
# Exit status: 0 done, 1 no such record, 2 bad arguments or setup.

die() { echo "$prog (ipqbdb stand-in): $*" >&2; exit 2; }

standin_start() {
	[ -n "${IPQBDB_STANDIN_DIR:-}" ] || die "IPQBDB_STANDIN_DIR is not set"
	mkdir -p "$IPQBDB_STANDIN_DIR" || die "cannot create $IPQBDB_STANDIN_DIR"
	{
		printf '%s' "$prog"
		for a in "$@"; do printf ' %s' "$a"; done
		printf '\n'
	} >>"$IPQBDB_STANDIN_DIR/calls.log"
	dbpath=$IPQBDB_STANDIN_DIR
}

# valid_ip ADDR: dotted-quad IPv4 only (ipqbdb stores IPv4 records).
valid_ip() {
	printf '%s\n' "$1" | grep -Eqx '((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
}

# db_has FILE ADDR
db_has() { [ -f "$1" ] && awk -v ip="$2" -F '\t' '$1 == ip { found = 1 } END { exit !found }' "$1"; }

# db_del FILE ADDR
db_del() {
	awk -v ip="$2" -F '\t' '$1 != ip' "$1" >"$1.tmp" && mv "$1.tmp" "$1"
}

# db_list FILE
db_list() { [ -f "$1" ] && cat "$1" || true; }
