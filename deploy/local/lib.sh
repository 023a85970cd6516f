# Helpers shared by the deploy/local scripts. Source it; it does not run anything.
# Only bash and coreutils are assumed (no curl, ps or nc on CI machines).
# shellcheck disable=SC2034 # its variables are used by the scripts that source it

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA="$ROOT/.data"

log() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

# port_open HOST PORT: true if a TCP connection succeeds within 2 s.
port_open() {
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# http_ok HOST PORT PATH: true if GET PATH answers with status 200.
http_ok() {
	local status
	status=$(timeout 2 bash -c '
		exec 3<>"/dev/tcp/$1/$2" || exit 1
		printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$3" "$1" >&3
		head -n1 <&3' _ "$1" "$2" "$3" 2>/dev/null) || return 1
	[[ $status == "HTTP/1."?" 200"* ]]
}

# alive PID: some thread of the process is still running (not a zombie). Checks
# every thread: a JVM's main thread can be a zombie while the others still exit
# and still hold its sockets.
alive() {
	local f stat
	[[ -n ${1-} ]] || return 1
	for f in /proc/"$1"/task/*/stat; do
		stat=$(cat "$f" 2>/dev/null) || continue
		stat=${stat##*) }
		[[ ${stat:0:1} == [ZX] ]] || return 0
	done
	return 1
}

# wait_port_closed HOST PORT TIMEOUT: until nothing accepts on HOST:PORT.
wait_port_closed() {
	local start=$SECONDS
	while port_open "$1" "$2"; do
		((SECONDS - start < $3)) || return 1
		sleep 0.2
	done
}

# cmdline_has PID TEXT: the process's command line contains TEXT (guards
# against signalling an unrelated process that reused a stale pid).
cmdline_has() {
	local cmd
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	[[ $cmd == *"$2"* ]]
}

# pid_of PIDFILE MATCH: print the pid recorded in PIDFILE if that process is
# alive and its command line contains MATCH.
pid_of() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 1
	alive "$pid" && cmdline_has "$pid" "$2" && echo "$pid"
}

# spawn LOGFILE CMD...: start CMD in the background, in its own session when
# possible (a Ctrl-C in the terminal then does not reach it), with stdin closed
# and output appended to LOGFILE. Sets SPAWNED_PID.
spawn() {
	local logfile=$1
	shift
	if command -v setsid >/dev/null; then
		setsid "$@" </dev/null >>"$logfile" 2>&1 &
	else
		"$@" </dev/null >>"$logfile" 2>&1 &
	fi
	SPAWNED_PID=$!
}

# stop_pid PID NAME TIMEOUT: SIGTERM, wait up to TIMEOUT seconds, then SIGKILL.
stop_pid() {
	local pid=$1 name=$2 timeout=$3 start=$SECONDS
	kill -TERM "$pid" 2>/dev/null || true
	while alive "$pid"; do
		if ((SECONDS - start >= timeout)); then
			log "$name (pid $pid) still running after ${timeout}s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			while alive "$pid"; do sleep 0.2; done
			return 1
		fi
		sleep 0.2
	done
	return 0
}

# progress MSG: rewrite one status line on a terminal; otherwise (CI logs)
# print a line every 10 s. progress_start begins a new wait.
progress_start() { _progress_last=$SECONDS _progress_shown=; }
progress() {
	if [[ -t 1 ]]; then
		printf '\r%s: %s ' "$PROG" "$1"
		_progress_shown=1
	elif ((SECONDS - ${_progress_last:-0} >= 10)); then
		_progress_last=$SECONDS
		log "$1"
	fi
}
progress_done() {
	[[ -n ${_progress_shown-} ]] && printf '\n'
	_progress_shown=
}
