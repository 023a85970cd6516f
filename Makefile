# Chorus developer targets. `make` lists them. Uses `go` from PATH.
SHELL := /bin/bash
GO    ?= go
LOCAL := deploy/local
# NATS_NODES=3: a local 3-server JetStream cluster instead of one server.
NATS_NODES ?= 1
export NATS_NODES

.PHONY: help up down wipe build nats-cli etcd run test test-cluster unit vet chaos bench bench-join

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# CASSANDRA_NODES=3: a local 3-node Cassandra cluster on 127.0.0.1..3 instead of one
# node (deploy/local/cassandra.sh; CHORUS_CASSANDRA_NODE_IPS chooses other addresses).
CASSANDRA_NODES ?= 1

up: ## start NATS (JetStream; NATS_NODES=3: a 3-server cluster) and Cassandra (CASSANDRA_NODES=3: a 3-node cluster) locally, or reuse running ones
	$(LOCAL)/nats.sh start
	CASSANDRA_NODES=$(CASSANDRA_NODES) $(LOCAL)/cassandra.sh start

# The single-node stop also stops any cluster nodes the script started: down stops
# whichever runs, whatever CASSANDRA_NODES says.
down: ## stop the NATS and Cassandra (one node or a cluster) started by `make up`
	$(LOCAL)/nats.sh stop
	CASSANDRA_NODES=1 $(LOCAL)/cassandra.sh stop

wipe: down ## stop both and delete all local data (.data/)
	rm -rf .data

build: ## build bin/chorus-worker and bin/chorus
	$(GO) build -o bin/chorus-worker ./cmd/chorus-worker
	$(GO) build -o bin/chorus ./cmd/chorus

nats-cli: ## install the nats CLI as bin/nats
	GOBIN=$(CURDIR)/bin $(GO) install github.com/nats-io/natscli/nats@v0.5.0

etcd: ## build bin/etcd, the benchmark's peer (version: deploy/etcd/go.mod)
	$(LOCAL)/etcd.sh build

run: up build ## run 3 workers (server0..server2) in the foreground; Ctrl-C stops them
	$(LOCAL)/run-workers.sh 3

# Tests may stop and start the local Cassandra (TestCassandraRestart); never an external one.
CASSANDRA_CTL := $(if $(filter-out 127.0.0.1:9042 localhost:9042 localhost 127.0.0.1,$(CHORUS_CASSANDRA_HOSTS)),,$(CURDIR)/$(LOCAL)/cassandra.sh)
CHAOS_DURATION ?= 3m

test: ## all tests, with a local Cassandra started (and stopped) if none is running
	CHORUS_TEST_CASSANDRA_CTL=$(CASSANDRA_CTL) $(LOCAL)/with-services.sh $(GO) test -count=1 -timeout 40m ./...

# The Cassandra-cluster fault tests of ./integration/ (TestNATSCluster runs in `make
# test`: it needs no Cassandra cluster), on a local 3-node Cassandra started here (and
# stopped afterwards, even on failure, unless it was already running). CLUSTER_IPS
# chooses the nodes' addresses. CI runs it after `make test`.
CLUSTER_IPS ?= 127.0.0.1 127.0.0.2 127.0.0.3
comma := ,
CLUSTER_HOSTS = $(subst $() ,$(comma),$(strip $(patsubst %,%:9042,$(CLUSTER_IPS))))

# A cluster not running is wiped first: each run starts from a fresh ring (Cassandra
# 5.0.6 can leave a restarted node's schema behind after the test drops its keyspaces).
CLUSTER_ENV = CASSANDRA_NODES=3 CHORUS_CASSANDRA_NODE_IPS="$(CLUSTER_IPS)"

test-cluster: ## fault tests on a local 3-node Cassandra cluster (go test -run 'CassandraCluster|ClusterAudit' ./integration/, ~3 min)
	$(CLUSTER_ENV) $(LOCAL)/cassandra.sh status >/dev/null 2>&1 || $(CLUSTER_ENV) $(LOCAL)/cassandra.sh wipe
	$(CLUSTER_ENV) CHORUS_TEST_CASSANDRA_CLUSTER=$(CLUSTER_HOSTS) CHORUS_TEST_CASSANDRA_CLUSTER_CTL=$(CURDIR)/$(LOCAL)/cassandra.sh \
	$(LOCAL)/with-services.sh $(GO) test -count=1 -timeout 30m -run 'CassandraCluster|ClusterAudit' -v ./integration/

chaos: ## the long chaos test (CHAOS_DURATION=3m): kills, freezes, checks the history
	CHORUS_CHAOS_DURATION=$(CHAOS_DURATION) $(LOCAL)/with-services.sh $(GO) test -count=1 -timeout 60m -run 'TestChaos$$' -v ./integration/

unit: ## fast tests only (-short: no Cassandra needed)
	$(GO) test -short -count=1 ./...

vet: ## go vet
	$(GO) vet ./...

bench: ## measure issue 12's targets, against direct Cassandra and etcd, and join time (~7 min); writes BENCHMARKS.md and docs/bench/
	$(LOCAL)/bench.sh

# The join benchmark alone. `CHORUS_BENCH_JOIN_HISTORY=100000,1000000 make bench` puts
# the full table into BENCHMARKS.md instead (make bench runs 100000 only).
JOIN_HISTORY ?= 100000,1000000

bench-join: ## time for a new worker to join: replay vs snapshot (JOIN_HISTORY=100000,1000000, ~15 min); table on stdout
	@mkdir -p .data/bench
	set -o pipefail; $(LOCAL)/with-services.sh $(GO) run ./bench/cmd/joinbench -history $(JOIN_HISTORY) -json .data/bench/join.json -worker-log .data/bench/join-workers.log | tee .data/bench/join.md
