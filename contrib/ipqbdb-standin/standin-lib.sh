# Shared code of the ipqbdb STAND-IN scripts (contrib/ipqbdb-standin and
# contrib/ipqbdb-standin-alt). These are NOT ipqbdb: they mimic the command
# lines tlsrpt's commands files use, for tests, keeping a text database.
# Sourced by the scripts; not executable.
#
# Options are parsed the way popt (the option library ipqbdb uses) parses
# them: --name=VALUE or --name VALUE, -x VALUE or -xVALUE, short flags may
# be combined, -?/--help prints popt's help layout and exits 0, --usage
# prints a short usage, and an unknown option is refused with popt's own
# words ("unknown option", "missing argument", the strings of libpopt0
# 1.19) as "PROG: OPTION: unknown option", exit status 2. The layout of
# that line and the exit status are the stand-ins' choice: ipqbdb's own
# sources could not be read.
#
# Environment:
#   IPQBDB_STANDIN_DIR        required; holds calls.log (one line per call:
#                             program and arguments, --help calls too),
#                             overlap.log (a call that started while
#                             another stand-in was running) and the
#                             databases block.tsv and white.tsv
#   IPQBDB_STANDIN_FAIL_ONCE  programs (space separated) whose first call
#                             other than --help fails, as ipqbdb 2.03's
#                             ibd-del and ibd-ban "just fail their current
#                             task" during a recovery
#   IPQBDB_STANDIN_FAIL       programs whose every call other than --help
#                             fails
#   IPQBDB_STANDIN_SLEEP      seconds each call lasts (to test overlaps)
# Databases (tab separated, one record a line):
#   block.tsv  KEY PROBABILITY(0-1) CAUGHT REASON   KEY: ADDR or ADDR/LEN
#   white.tsv  KEY DECAY(seconds)
# Exit status: 0 done, 1 no such record or injected failure, 2 bad
# arguments or setup.

die() { echo "$prog: $*" >&2; exit 2; }

# OPTIONS (set by each script): one option a line,
#   SHORT|LONG|ARGNAME|DESCRIPTION
# SHORT or LONG may be empty; ARGNAME is empty for a flag. A given option
# sets opt_LONG (dashes as underscores; SHORT when there is no LONG) to its
# value, or to 1 for a flag.

standin_start() {
	[ -n "${IPQBDB_STANDIN_DIR:-}" ] || die "IPQBDB_STANDIN_DIR is not set (this is a stand-in for tests)"
	mkdir -p "$IPQBDB_STANDIN_DIR" || die "cannot create $IPQBDB_STANDIN_DIR"
	{
		printf '%s' "$prog"
		for a in "$@"; do printf ' %s' "$a"; done
		printf '\n'
	} >>"$IPQBDB_STANDIN_DIR/calls.log"
	if mkdir "$IPQBDB_STANDIN_DIR/.running" 2>/dev/null; then
		trap 'rmdir "$IPQBDB_STANDIN_DIR/.running" 2>/dev/null' EXIT
	else
		echo "$prog $*" >>"$IPQBDB_STANDIN_DIR/overlap.log"
	fi
	[ -z "${IPQBDB_STANDIN_SLEEP:-}" ] || sleep "$IPQBDB_STANDIN_SLEEP"
	standin_parse "$@"
	standin_inject
}

# standin_inject fails the call when the environment asks for it.
standin_inject() {
	for p in ${IPQBDB_STANDIN_FAIL:-}; do
		[ "$p" != "$prog" ] || { echo "$prog: cannot open the database environment (stand-in: told to fail)" >&2; exit 1; }
	done
	for p in ${IPQBDB_STANDIN_FAIL_ONCE:-}; do
		if [ "$p" = "$prog" ] && [ ! -e "$IPQBDB_STANDIN_DIR/failed-once.$prog" ]; then
			: >"$IPQBDB_STANDIN_DIR/failed-once.$prog"
			echo "$prog: cannot open the database environment: a recovery is running (stand-in: failing once)" >&2
			exit 1
		fi
	done
}

# standin_left prints an option's help column: "-i, --ip-addr=ip".
standin_left() {
	s=$1 l=$2 a=$3
	if [ -n "$l" ]; then
		if [ -n "$s" ]; then printf -- '-%s, --%s' "$s" "$l"; else printf -- '    --%s' "$l"; fi
		[ -z "$a" ] || printf '=%s' "$a"
	else
		printf -- '-%s' "$s"
		[ -z "$a" ] || printf ' %s' "$a"
	fi
}

standin_all_options() {
	printf '%s\n' "$OPTIONS"
	printf '%s\n' '?|help||Show this help message' '|usage||Display brief usage message'
}

# standin_help prints the help the way popt's poptPrintHelp lays it out.
standin_help() {
	width=0
	while IFS='|' read -r s l a d; do
		[ -n "$s$l" ] || continue
		n=$(standin_left "$s" "$l" "$a" | wc -c)
		[ "$n" -le "$width" ] || width=$n
	done <<EOF
$(standin_all_options)
EOF
	width=$((width + 5))
	printf 'Usage: %s [OPTION...]\n' "$prog"
	printf '\n%s STAND-IN options (for tlsrpt tests; this is not ipqbdb):\n' "$prog"
	while IFS='|' read -r s l a d; do
		[ -n "$s$l" ] || continue
		printf '  %-*s%s\n' "$width" "$(standin_left "$s" "$l" "$a")" "$d"
	done <<EOF
$OPTIONS
EOF
	printf '\nHelp options:\n'
	printf '  %-*s%s\n' "$width" "-?, --help" "Show this help message"
	printf '  %-*s%s\n' "$width" "    --usage" "Display brief usage message"
}

standin_usage() {
	printf 'Usage: %s [-?]' "$prog"
	while IFS='|' read -r s l a d; do
		[ -n "$s$l" ] || continue
		if [ -n "$s" ] && [ -n "$l" ]; then u="-$s|--$l"; elif [ -n "$l" ]; then u="--$l"; else u="-$s"; fi
		[ -z "$a" ] || u="$u=$a"
		printf ' [%s]' "$u"
	done <<EOF
$OPTIONS
EOF
	printf ' [-?|--help] [--usage]\n'
}

# standin_find KIND NAME prints "VAR|ARGNAME" of the option, or fails.
standin_find() {
	while IFS='|' read -r s l a d; do
		if { [ "$1" = short ] && [ -n "$s" ] && [ "$s" = "$2" ]; } ||
			{ [ "$1" = long ] && [ -n "$l" ] && [ "$l" = "$2" ]; }; then
			v=${l:-$s}
			printf '%s|%s\n' "$(printf '%s' "$v" | tr - _)" "$a"
			return 0
		fi
	done <<EOF
$OPTIONS
EOF
	return 1
}

badopt() { echo "$prog: $1: unknown option" >&2; exit 2; }
noarg() { echo "$prog: $1: missing argument" >&2; exit 2; }

standin_set() { eval "opt_$1=\$2"; }

standin_parse() {
	while [ $# -gt 0 ]; do
		arg=$1
		shift
		case $arg in
		--) [ $# -eq 0 ] || die "unexpected argument: $1"; return ;;
		--help | -\?) standin_help; exit 0 ;;
		--usage) standin_usage; exit 0 ;;
		--*=*)
			name=${arg%%=*}
			found=$(standin_find long "${name#--}") || badopt "$name"
			[ -n "${found#*|}" ] || die "$name: option does not take an argument"
			standin_set "${found%%|*}" "${arg#*=}" ;;
		--*)
			found=$(standin_find long "${arg#--}") || badopt "$arg"
			if [ -n "${found#*|}" ]; then
				[ $# -gt 0 ] || noarg "$arg"
				standin_set "${found%%|*}" "$1"
				shift
			else
				standin_set "${found%%|*}" 1
			fi ;;
		-?*)
			c=$(printf '%s' "$arg" | cut -c2)
			rest=$(printf '%s' "$arg" | cut -c3-)
			found=$(standin_find short "$c") || badopt "-$c"
			if [ -n "${found#*|}" ]; then
				if [ -n "$rest" ]; then
					standin_set "${found%%|*}" "$rest"
				else
					[ $# -gt 0 ] || noarg "-$c"
					standin_set "${found%%|*}" "$1"
					shift
				fi
			else
				standin_set "${found%%|*}" 1
				[ -z "$rest" ] || set -- "-$rest" "$@"
			fi ;;
		*) die "unexpected argument: $arg" ;;
		esac
	done
}

# valid_ipv4 ADDR: dotted quad.
valid_ipv4() {
	printf '%s\n' "$1" | grep -Eqx '((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
}

# valid_ipv6 ADDR: hexadecimal groups and colons, at least two colons
# (loose: tlsrpt validates addresses before any call).
valid_ipv6() {
	printf '%s\n' "$1" | grep -Eqx '[0-9a-f]{0,4}(:[0-9a-f]{0,4}){2,7}' && [ "${#1}" -le 39 ]
}

# valid_key KEY: an address, or a range ADDR/LEN.
valid_key() {
	addr=${1%/*}
	if [ "$addr" != "$1" ]; then
		len=${1##*/}
		printf '%s\n' "$len" | grep -Eqx '[0-9]{1,3}' || return 1
		if valid_ipv4 "$addr"; then [ "$len" -le 32 ]; else valid_ipv6 "$addr" && [ "$len" -le 128 ]; fi
		return
	fi
	valid_ipv4 "$1" || valid_ipv6 "$1"
}

db_file() { printf '%s/%s.tsv\n' "$IPQBDB_STANDIN_DIR" "$1"; }

# db_has DB KEY
db_has() { f=$(db_file "$1"); [ -f "$f" ] && awk -v k="$2" -F '\t' '$1 == k { found = 1 } END { exit !found }' "$f"; }

# db_del DB KEY
db_del() {
	f=$(db_file "$1")
	touch "$f"
	awk -v k="$2" -F '\t' '$1 != k' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
}

# db_get DB KEY FIELD
db_get() { f=$(db_file "$1"); [ -f "$f" ] && awk -v k="$2" -v n="$3" -F '\t' '$1 == k { print $n }' "$f"; }

# db_add DB LINE (tab separated)
db_add() { printf '%s\n' "$2" >>"$(db_file "$1")"; }

# db_cat DB
db_cat() { f=$(db_file "$1"); [ -f "$f" ] && cat "$f" || true; }
