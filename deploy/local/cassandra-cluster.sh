# Cluster mode of deploy/local/cassandra.sh (CASSANDRA_NODES=N, N > 1): N local
# Cassandra nodes from the same jars, node i on its own loopback address. Sourced by
# cassandra.sh after its functions; it runs nothing by itself.
# shellcheck shell=bash disable=SC2034 # DIR, CONF, ... are read by cassandra.sh's functions

CDIR="$DATA/cassandra-cluster"

# cluster_mode: CASSANDRA_NODES (or CHORUS_CASSANDRA_NODE_IPS) asks for more than one
# node. Sets NODES and IPS (array, node i at IPS[i-1]).
cluster_mode() {
	local ips=${CHORUS_CASSANDRA_NODE_IPS-}
	read -r -a IPS <<<"$ips"
	[[ ${CASSANDRA_NODES:-1} =~ ^[1-9][0-9]?$ ]] || die "CASSANDRA_NODES must be a number of nodes from 1 to 99, got '${CASSANDRA_NODES-}'"
	NODES=${CASSANDRA_NODES:-${#IPS[@]}}
	((NODES > 1)) || return 1
	if ((${#IPS[@]} == 0)); then
		local i
		for ((i = 1; i <= NODES; i++)); do IPS+=("127.0.0.$i"); done
	fi
	((${#IPS[@]} == NODES)) || die "CHORUS_CASSANDRA_NODE_IPS names ${#IPS[@]} addresses but CASSANDRA_NODES is $NODES"
	return 0
}

# select_node I: point cassandra.sh's per-node variables at node I.
select_node() {
	local i=$1
	DIR="$CDIR/node$i"
	CONF="$DIR/conf"
	LOGS="$DIR/logs"
	NODE_PIDFILE="$CDIR/node$i.pid"
	ADDRESS=${IPS[i - 1]}
	SEEDS="${IPS[0]}:7000"
	CLUSTER_NAME=chorus-local-cluster
	# Murmur3 tokens run from -2^63 to 2^63-1: node i gets -2^63 + (i-1) * 2^64/N,
	# computed in halves so that bash's 64-bit arithmetic does not overflow.
	TOKEN=$((((i - 1) * (9223372036854775807 / NODES) - 4611686018427387904) * 2))
}

# node_pid I: the pid of node I if this script started it and it runs.
node_pid() { pid_of "$CDIR/node$1.pid" "-Dcassandra.storagedir=$CDIR/node$1 "; }

# cluster_pids: the pids of every cluster node this script started that runs
# (whatever CASSANDRA_NODES says now); fails if there is none.
cluster_pids() {
	local f i pid pids=()
	for f in "$CDIR"/node*.pid; do
		[[ -e $f ]] || continue
		i=${f##*/node}
		i=${i%.pid}
		if pid=$(node_pid "$i"); then pids+=("$pid"); fi
	done
	((${#pids[@]})) && echo "${pids[*]}"
}

# cluster_external: CHORUS_CASSANDRA_HOSTS names a host that is not a node here.
cluster_external() {
	local hosts=${CHORUS_CASSANDRA_HOSTS-} h ip
	[[ -n $hosts ]] || return 1
	IFS=, read -r -a hs <<<"$hosts"
	for h in "${hs[@]}"; do
		h=${h%:9042}
		for ip in "${IPS[@]}"; do [[ $h == "$ip" ]] && continue 2; done
		[[ $h == localhost && ${IPS[0]} == 127.0.0.1 ]] && continue
		return 0
	done
	return 1
}

# node_list [I]: node I (checked), or every node.
node_list() {
	if [[ -n ${1-} ]]; then
		[[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= NODES)) || die "no node '$1': the cluster has nodes 1 to $NODES (CASSANDRA_NODES=$NODES)"
		echo "$1"
	else
		seq 1 "$NODES"
	fi
}

# sees_up I J OFFSET: node I's log (after OFFSET) says node J is up.
sees_up() {
	select_node "$2"
	local ip=$ADDRESS
	select_node "$1"
	log_since "$3" | grep -q "/$ip:7000 is now UP"
}

# wait_cluster NODES...: until each given node accepts CQL, and it and every other
# running node see each other up (gossip: what nodetool status shows as UN).
wait_cluster() {
	local start=$SECONDS i j pending
	progress_start
	while :; do
		pending=()
		for i in "$@"; do
			select_node "$i"
			if ! alive "${PID[i]}"; then
				progress_done
				show_logs "${OFF[i]}"
				die "Cassandra node $i ($ADDRESS) exited during start-up (logs $LOGS)"
			fi
			if ! ready "${OFF[i]}"; then
				pending+=("node $i: CQL")
				continue
			fi
			for j in $(seq 1 "$NODES"); do
				((j != i)) && [[ -n ${PID[j]-} ]] || continue
				sees_up "$i" "$j" "${OFF[i]}" || pending+=("node $i sees node $j")
				sees_up "$j" "$i" "${OFF[j]}" || pending+=("node $j sees node $i")
			done
		done
		((${#pending[@]})) || break
		if ((SECONDS - start >= READY_TIMEOUT)); then
			progress_done
			for i in "$@"; do select_node "$i" && show_logs "${OFF[i]}"; done
			die "Cassandra cluster not ready after ${READY_TIMEOUT}s, waiting for: ${pending[*]} (stop it with $0 stop)"
		fi
		progress "waiting for Cassandra nodes ($(IFS=,; echo "${pending[*]}")) ... $((SECONDS - start))s"
		sleep 0.5
	done
	progress_done
}

cluster_start() {
	local nodes i pid
	nodes=$(node_list "${1-}")
	if cluster_external; then
		log "using external Cassandra at $CHORUS_CASSANDRA_HOSTS (CHORUS_CASSANDRA_HOSTS); not starting a cluster"
		return 0
	fi
	if pid=$(our_pid); then
		die "the single local Cassandra node started by this script is running (pid $pid, 127.0.0.1:9042): stop it first (make down), then start the cluster"
	fi
	declare -g -a PID=() OFF=()
	local todo=()
	for i in $(seq 1 "$NODES"); do
		select_node "$i"
		OFF[i]=$(log_size)
		if pid=$(node_pid "$i"); then
			PID[i]=$pid
		elif grep -qx "$i" <<<"$nodes"; then
			todo+=("$i")
		fi
	done
	for i in "${todo[@]}"; do
		select_node "$i"
		port_open "$ADDRESS" 9042 && die "$ADDRESS:9042 already accepts CQL, but not from node $i of this cluster: stop that Cassandra or choose other addresses (CHORUS_CASSANDRA_NODE_IPS)"
		port_open "$ADDRESS" 7000 && die "$ADDRESS:7000 (Cassandra storage) is in use by another process"
	done
	if ((${#todo[@]} == 0)); then
		for i in $nodes; do
			select_node "$i"
			wait_ready "${PID[i]}" 0
			log "node $i already running (pid ${PID[i]}), CQL on $ADDRESS:9042"
		done
		return 0
	fi
	check_java
	ensure_lib
	DEFAULT_HEAP=512m
	# A local ring settles at once: no 30 s waits for gossip.
	EXTRA_JVM_OPTS=(-Dcassandra.ring_delay_ms=5000)
	local start=$SECONDS
	for i in "${todo[@]}"; do
		select_node "$i"
		spawn_node
		echo "$SPAWNED_PID" >"$NODE_PIDFILE"
		PID[i]=$SPAWNED_PID
		OFF[i]=$LOG_OFFSET
		log "starting node $i on $ADDRESS (pid $SPAWNED_PID, heap ${CHORUS_CASSANDRA_HEAP:-$DEFAULT_HEAP}, logs $LOGS)"
		# The others join through the seed's gossip: start them once it listens.
		if ((i == 1)) && ((${#todo[@]} > 1)); then
			local t=$SECONDS
			until port_open "$ADDRESS" 7000; do
				alive "$SPAWNED_PID" || { show_logs "$LOG_OFFSET"; die "seed node 1 exited during start-up"; }
				((SECONDS - t < READY_TIMEOUT)) || die "seed node 1 does not listen on $ADDRESS:7000 after ${READY_TIMEOUT}s"
				sleep 0.2
			done
		fi
	done
	wait_cluster "${todo[@]}"
	log "Cassandra cluster ready in $((SECONDS - start))s: CQL on $(printf '%s:9042 ' "${IPS[@]}")"
}

cluster_stop() {
	local f i pid pids=() which=()
	for f in "$CDIR"/node*.pid; do
		[[ -e $f ]] || continue
		i=${f##*/node}
		i=${i%.pid}
		[[ -z ${1-} || $i == "$1" ]] || continue
		if pid=$(node_pid "$i"); then
			pids+=("$pid")
			which+=("$i")
			kill -TERM "$pid" 2>/dev/null || true # all at once: they drain in parallel
		else
			rm -f "$f"
		fi
	done
	if ((${#pids[@]} == 0)); then
		log "no cluster node running (nothing started by this script)"
		return 0
	fi
	log "stopping Cassandra node(s) ${which[*]} (up to ${STOP_TIMEOUT}s) ..."
	local start=$SECONDS k
	for k in "${!pids[@]}"; do
		stop_pid "${pids[k]}" "Cassandra node ${which[k]}" "$STOP_TIMEOUT" || true
		rm -f "$CDIR/node${which[k]}.pid"
	done
	log "stopped in $((SECONDS - start))s"
}

cluster_kill() {
	local i pid
	for i in $(node_list "${1-}"); do
		select_node "$i"
		if pid=$(node_pid "$i"); then
			kill -KILL "$pid"
			while alive "$pid"; do sleep 0.1; done
			wait_port_closed "$ADDRESS" 9042 10 || true
			log "killed node $i (pid $pid, $ADDRESS)"
		else
			log "node $i not running (nothing started by this script)"
		fi
		rm -f "$NODE_PIDFILE"
	done
}

cluster_status() {
	local i pid up=0
	if cluster_external; then
		log "external: $CHORUS_CASSANDRA_HOSTS"
		return 0
	fi
	for i in $(seq 1 "$NODES"); do
		select_node "$i"
		if pid=$(node_pid "$i"); then
			if port_open "$ADDRESS" 9042; then
				log "node $i running (pid $pid), CQL on $ADDRESS:9042"
				up=$((up + 1))
			else
				log "node $i starting (pid $pid), CQL port not open yet"
			fi
		else
			log "node $i not running"
		fi
	done
	((up == NODES)) || return 3
}

cluster_main() {
	local cmd=${1-} node=${2-}
	case $cmd in
	start) cluster_start "$node" ;;
	stop) [[ -z $node ]] || node_list "$node" >/dev/null; cluster_stop "$node" ;;
	kill) cluster_kill "$node" ;;
	status) cluster_status ;;
	wipe)
		cluster_stop
		rm -rf "$CDIR"
		log "removed $CDIR"
		;;
	*) echo "usage: CASSANDRA_NODES=N $0 {start|stop|status|wipe|kill} [NODE]" >&2; exit 2 ;;
	esac
}
