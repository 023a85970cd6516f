#!/usr/bin/env bash
# Local Apache Cassandra 5.0, run from its Maven Central jars on JDK 17 (no tarball,
# no Docker): one node, or with CASSANDRA_NODES=3 a local cluster of 3 (cluster mode,
# below). See /work/shared/docs/cassandra-local.md.
#
#   deploy/local/cassandra.sh start    fetch the jars if needed, write the config and start
#                                      the node, unless 127.0.0.1:9042 already answers or
#                                      CHORUS_CASSANDRA_HOSTS names another host; waits
#                                      until CQL clients are accepted
#   deploy/local/cassandra.sh stop     stop the node this script started (SIGTERM: drain)
#   deploy/local/cassandra.sh status   exit 0 if a node is usable (or starting), 3 if not
#   deploy/local/cassandra.sh wipe     stop, then delete .data/cassandra
#   deploy/local/cassandra.sh kill     SIGKILL the node this script started (crash tests;
#                                      `start` then replays the commitlog)
#
# Files: jars deploy/cassandra/lib/, config .data/cassandra/conf/, data
# .data/cassandra/{data,commitlog,...}, logs .data/cassandra/logs/{system,stdout}.log,
# pid .data/cassandra.pid.
#
# Cluster mode (CASSANDRA_NODES=N, N > 1): node i listens on 127.0.0.i (ports 7000 and
# 9042 on each address; no JMX), in .data/cassandra-cluster/nodei/ (same layout as
# above) with pid file .data/cassandra-cluster/nodei.pid; cluster chorus-local-cluster,
# seed node 1, one evenly spaced token per node, no bootstrap. The same subcommands
# act on every node; `start I` and `kill I` on node I only (tests crash and restart
# one node); `status` exits 0 only if every node runs. `stop` without CASSANDRA_NODES
# stops the single node and any cluster nodes this script started (make down).
# The single node and a cluster never run at once (both would use 127.0.0.1:9042).
#
# Environment:
#   CASSANDRA_NODES                  1 (default): one node; N > 1: a local cluster of N
#   CHORUS_CASSANDRA_NODE_IPS        cluster mode: the nodes' addresses, space separated
#                                    (default 127.0.0.1 ... 127.0.0.N; sets N if
#                                    CASSANDRA_NODES is unset)
#   CHORUS_CASSANDRA_COMMITLOG_SYNC  batch (default: acknowledged writes survive power
#                                    loss), group, or periodic (faster, can lose ~10 s)
#   CHORUS_CASSANDRA_HEAP            JVM heap per node, default 1g (cluster: 512m)
#   CHORUS_CASSANDRA_READY_TIMEOUT   seconds to wait for start-up, default 180
#   JAVA_HOME                        the JDK 17 to use (default: java on PATH)
set -euo pipefail
PROG=cassandra.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC="$ROOT/deploy/cassandra"
LIB="$SRC/lib"
DIR="$DATA/cassandra"
CONF="$DIR/conf"
LOGS="$DIR/logs"
PIDFILE="$DATA/cassandra.pid"
MAIN=org.apache.cassandra.service.CassandraDaemon
READY_LINE="Starting listening for CQL clients"
READY_TIMEOUT=${CHORUS_CASSANDRA_READY_TIMEOUT:-180}
STOP_TIMEOUT=90
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# The single node's identity (cluster nodes get their own in cluster.sh).
CLUSTER_NAME=chorus-local
ADDRESS=127.0.0.1
SEEDS=127.0.0.1:7000
TOKEN=0

# external: CHORUS_CASSANDRA_HOSTS names hosts other than the local default.
external() {
	local hosts=${CHORUS_CASSANDRA_HOSTS-}
	[[ -n $hosts && ! $hosts =~ ^(127\.0\.0\.1|localhost)(:9042)?$ ]]
}

our_pid() { pid_of "$PIDFILE" "$MAIN"; }

check_java() {
	command -v "$JAVA" >/dev/null || die "java not found (set JAVA_HOME to a JDK 17)"
	local v
	v=$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
	[[ $v == 17 ]] || die "Cassandra 5.0 here needs JDK 17, but $JAVA is version ${v:-unknown} (set JAVA_HOME)"
}

# ensure_lib: deploy/cassandra/lib holds every runtime jar of the version in
# pom.xml. A marker with the pom's hash is written only after a complete copy,
# so an interrupted or outdated download is redone (offline from ~/.m2 if cached).
ensure_lib() {
	local want
	want=$(sha256sum "$SRC/pom.xml" | cut -d' ' -f1)
	if [[ -f $LIB/.complete && $(cat "$LIB/.complete") == "$want" ]]; then
		return 0
	fi
	command -v mvn >/dev/null || die "mvn not found; it is needed once to fetch the Cassandra jars"
	log "fetching Cassandra jars from Maven Central into deploy/cassandra/lib (first run: about a minute) ..."
	rm -rf "$LIB.tmp"
	mkdir -p "$DATA"
	if ! mvn -B -ntp -f "$SRC/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
		-DincludeScope=runtime -DoutputDirectory="$LIB.tmp" >"$DATA/mvn.log" 2>&1; then
		tail -n 40 "$DATA/mvn.log" >&2
		die "mvn copy-dependencies failed (log: $DATA/mvn.log)"
	fi
	rm -rf "$LIB"
	mv "$LIB.tmp" "$LIB"
	echo "$want" >"$LIB/.complete"
	log "$(ls "$LIB"/*.jar | wc -l) jars in deploy/cassandra/lib"
}

commitlog_sync() {
	case ${CHORUS_CASSANDRA_COMMITLOG_SYNC:-batch} in
	batch) echo "commitlog_sync: batch" ;;
	group) printf '%s\n' "commitlog_sync: group" "commitlog_sync_group_window: 15ms" ;;
	periodic) printf '%s\n' "commitlog_sync: periodic" "commitlog_sync_period: 10000ms" ;;
	*) die "CHORUS_CASSANDRA_COMMITLOG_SYNC must be batch, group or periodic" ;;
	esac
}

write_config() {
	mkdir -p "$CONF" "$LOGS" "$DIR"/{data,commitlog,hints,saved_caches,cdc_raw,triggers}
	local sync line
	sync=$(commitlog_sync)
	while IFS= read -r line; do
		if [[ $line == "@COMMITLOG_SYNC@" ]]; then
			printf '%s\n' "$sync"
		else
			line=${line//@DATA_DIR@/$DIR}
			line=${line//@CLUSTER_NAME@/$CLUSTER_NAME}
			line=${line//@ADDRESS@/$ADDRESS}
			line=${line//@SEEDS@/$SEEDS}
			printf '%s\n' "${line//@INITIAL_TOKEN@/$TOKEN}"
		fi
	done <"$SRC/cassandra.yaml.in" >"$CONF/cassandra.yaml"
	cp "$SRC/logback.xml" "$CONF/logback.xml"
}

jvm_options() {
	local jamm
	jamm=$(ls "$LIB"/jamm-*.jar 2>/dev/null | head -n1)
	[[ -n $jamm ]] || die "no jamm-*.jar in $LIB"
	local heap=${CHORUS_CASSANDRA_HEAP:-$DEFAULT_HEAP}
	JVM_OPTS=(
		-Xms"$heap" -Xmx"$heap" -Xss256k
		-XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:+PerfDisableSharedMem
		-javaagent:"$jamm"
		-Djdk.attach.allowAttachSelf=true
		-Dio.netty.tryReflectionSetAccessible=true
		-Djava.net.preferIPv4Stack=true
		-Dchronicle.analytics.disable=true
	)
	local m
	for m in java.base/jdk.internal.misc java.base/java.lang.ref jdk.unsupported/sun.misc \
		java.sql/java.sql java.management.rmi/com.sun.jmx.remote.internal.rmi \
		java.management/com.sun.jmx.remote.security java.rmi/sun.rmi.registry \
		java.rmi/sun.rmi.server; do
		JVM_OPTS+=(--add-exports "$m=ALL-UNNAMED")
	done
	for m in java.base/java.lang.module java.base/jdk.internal.loader java.base/jdk.internal.ref \
		java.base/jdk.internal.reflect java.base/jdk.internal.math java.base/jdk.internal.module \
		java.base/jdk.internal.util.jar jdk.management/com.sun.management.internal \
		java.base/sun.nio.ch java.base/java.io java.base/java.lang.reflect java.base/java.lang \
		java.base/java.util java.base/java.nio; do
		JVM_OPTS+=(--add-opens "$m=ALL-UNNAMED")
	done
	JVM_OPTS+=(
		-Dcassandra-foreground=yes
		-Dcassandra.config="file://$CONF/cassandra.yaml"
		-Dcassandra.storagedir="$DIR"
		-Dcassandra.logdir="$LOGS"
		-Dcassandra.triggers_dir="$DIR/triggers"
		-Dlogback.configurationFile="$CONF/logback.xml"
		# Single node: do not wait for gossip or ring state (about 1 min -> seconds).
		-Dcassandra.skip_wait_for_gossip_to_settle=0
		-Dcassandra.initial_token="$TOKEN"
		-Dcassandra.load_ring_state=false
		"${EXTRA_JVM_OPTS[@]}"
	)
}

log_size() { stat -c %s "$LOGS/system.log" 2>/dev/null || echo 0; }

# log_since OFFSET: the part of system.log written after OFFSET bytes.
log_since() {
	local off=$1
	[[ $off == running ]] && off=0
	(($(log_size) >= off)) || off=0 # rolled over
	tail -c +"$((off + 1))" "$LOGS/system.log" 2>/dev/null || true
}

# show_logs OFFSET: the end of this run's logs, on stderr.
show_logs() {
	{
		echo "--- last lines of $LOGS/system.log"
		log_since "$1" | tail -n 30
		echo "--- last lines of $LOGS/stdout.log"
		tail -n 30 "$LOGS/stdout.log" 2>/dev/null || true
	} >&2
}

# ready OFFSET: the log shows the CQL listener (after OFFSET) and ADDRESS:9042
# accepts connections.
# A node found running (OFFSET "running") may have rolled its log over since it
# started, so its start-up line is gone: CQL's port alone says it is ready
# (Cassandra opens it only once it listens for CQL clients).
ready() {
	if [[ $1 == running ]]; then
		port_open "$ADDRESS" 9042
		return
	fi
	log_since "$1" | grep -q "$READY_LINE" && port_open "$ADDRESS" 9042
}

# wait_ready PID OFFSET: until ready; fails if the process dies or time runs out.
wait_ready() {
	local pid=$1 off=$2 start=$SECONDS
	progress_start
	while :; do
		if ready "$off"; then
			break
		fi
		if ! alive "$pid"; then
			progress_done
			show_logs "$off"
			die "Cassandra exited during start-up"
		fi
		if ((SECONDS - start >= READY_TIMEOUT)); then
			progress_done
			show_logs "$off"
			die "Cassandra not ready after ${READY_TIMEOUT}s (still running as pid $pid; stop it with $0 stop)"
		fi
		progress "waiting for Cassandra ... $((SECONDS - start))s"
		sleep 0.5
	done
	progress_done
}

# spawn_node: start the node configured by DIR, CONF, LOGS, ADDRESS, TOKEN; sets
# SPAWNED_PID and LOG_OFFSET (where this run's log starts).
spawn_node() {
	write_config
	jvm_options
	LOG_OFFSET=$(log_size)
	: >"$LOGS/stdout.log"
	cd "$DIR"
	spawn "$LOGS/stdout.log" "$JAVA" "${JVM_OPTS[@]}" -cp "$CONF:$LIB/*" "$MAIN"
}

cmd_start() {
	if external; then
		log "using external Cassandra at $CHORUS_CASSANDRA_HOSTS (CHORUS_CASSANDRA_HOSTS); not starting one"
		return 0
	fi
	local pid
	if pid=$(our_pid); then
		wait_ready "$pid" running
		log "already running (pid $pid), CQL on 127.0.0.1:9042"
		return 0
	fi
	local running
	if running=$(cluster_pids); then
		die "a local Cassandra cluster started by this script is running (pids $running): stop it first (make down), or use it (CASSANDRA_NODES=N)"
	fi
	if port_open 127.0.0.1 9042; then
		log "something already accepts CQL on 127.0.0.1:9042; reusing it (not started by this script)"
		return 0
	fi
	port_open 127.0.0.1 7000 && die "port 7000 (Cassandra storage) is in use by another process"
	check_java
	ensure_lib
	spawn_node
	echo "$SPAWNED_PID" >"$PIDFILE"
	log "starting Cassandra (pid $SPAWNED_PID, commitlog_sync ${CHORUS_CASSANDRA_COMMITLOG_SYNC:-batch}, logs $LOGS)"
	local start=$SECONDS
	wait_ready "$SPAWNED_PID" "$LOG_OFFSET"
	log "Cassandra ready in $((SECONDS - start))s: CQL on 127.0.0.1:9042"
}

cmd_stop() {
	local pid
	if cluster_pids >/dev/null; then
		cluster_stop
	fi
	if ! pid=$(our_pid); then
		rm -f "$PIDFILE"
		log "not running (nothing started by this script)"
		return 0
	fi
	log "stopping Cassandra (pid $pid; up to ${STOP_TIMEOUT}s) ..."
	local off start=$SECONDS
	off=$(log_size)
	if stop_pid "$pid" Cassandra "$STOP_TIMEOUT"; then
		if log_since "$off" | grep -q "Cassandra shutdown complete"; then
			log "stopped in $((SECONDS - start))s (Cassandra shutdown complete)"
		else
			log "stopped in $((SECONDS - start))s"
		fi
	fi
	wait_port_closed 127.0.0.1 9042 10 || true
	rm -f "$PIDFILE"
}

cmd_status() {
	local pid
	if pid=$(cluster_pids); then
		log "a local cluster started by this script runs (pids $pid); CASSANDRA_NODES=N $0 status shows its nodes"
	elif external; then
		log "external: $CHORUS_CASSANDRA_HOSTS"
	elif pid=$(our_pid); then
		if port_open 127.0.0.1 9042; then
			log "running (pid $pid), CQL on 127.0.0.1:9042"
		else
			log "starting (pid $pid), CQL port not open yet"
		fi
	elif port_open 127.0.0.1 9042; then
		log "a node not started by this script accepts CQL on 127.0.0.1:9042"
	else
		log "not running"
		return 3
	fi
}

cmd_kill() {
	local pid
	if pid=$(our_pid); then
		kill -KILL "$pid"
		while alive "$pid"; do sleep 0.1; done
		wait_port_closed 127.0.0.1 9042 10 || true
		log "killed Cassandra (pid $pid)"
	else
		log "not running (nothing started by this script)"
	fi
	rm -f "$PIDFILE"
}

cmd_wipe() {
	cmd_stop
	rm -rf "$DIR" "$PIDFILE"
	log "removed $DIR"
}

DEFAULT_HEAP=1g
EXTRA_JVM_OPTS=()
source "$(dirname "${BASH_SOURCE[0]}")/cassandra-cluster.sh"

if cluster_mode; then
	cluster_main "$@"
	exit
fi
case ${1-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
wipe) cmd_wipe ;;
kill) cmd_kill ;;
*) echo "usage: $0 {start|stop|status|wipe|kill}, or CASSANDRA_NODES=N $0 {start|stop|status|wipe|kill} [NODE]" >&2; exit 2 ;;
esac
