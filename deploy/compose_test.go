// Package deploy holds no code: its test keeps docker-compose.yml, the NATS
// configuration it mounts and the Prometheus scrape configuration correct
// without a Docker engine, by parsing them (the NATS file with the
// nats-server of go.mod).
package deploy

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"
)

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Build       *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil { // merges <<: anchors as compose does
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// secret is the value the test gives a variable the compose file takes
// from the environment.
func secret(name string) string { return "secret-of-" + name }

// required matches a value compose takes from the environment and refuses
// to start without: ${NAME:?message}.
var required = regexp.MustCompile(`^\$\{([A-Z0-9_]+):\?[^}]+\}$`)

// fromEnv is the variable behind a required value ("" if it is not one).
func fromEnv(v string) string {
	if m := required.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	return ""
}

// interpolated is v as compose would pass it with secret(NAME) in NAME.
func interpolated(v string) string {
	if name := fromEnv(v); name != "" {
		return secret(name)
	}
	return v
}

// natsServer is a NATS service and its configuration as nats-server reads it.
type natsServer struct {
	name string
	svc  composeService
	opts *server.Options
}

// hostPort splits a host:port.
func hostPort(t *testing.T, hp string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		t.Fatalf("%q: %v", hp, err)
	}
	return h, p
}

// natsServers are the compose file's NATS services, each configuration
// parsed as its container sees it (its environment, its mounted files).
func natsServers(t *testing.T, c composeFile) []natsServer {
	t.Helper()
	var out []natsServer
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		s := c.Services[name]
		if !strings.HasPrefix(s.Image, "nats:") {
			continue
		}
		i := slices.Index(s.Command, "-c")
		if i < 0 || i+1 >= len(s.Command) {
			t.Fatalf("%s: command %v names no configuration file (-c)", name, s.Command)
		}
		conf := s.Command[i+1]
		local := mounted(t, name, s, conf)
		// Its includes are mounted next to it, from the files next to ours.
		b, err := os.ReadFile(local)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?m)^\s*include\s+"([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
			if got := mounted(t, name, s, path.Join(path.Dir(conf), m[1])); got != filepath.Join(filepath.Dir(local), m[1]) {
				t.Fatalf("%s: %s includes %s, but %s is mounted there", name, conf, m[1], got)
			}
		}
		for k, v := range s.Environment {
			t.Setenv(k, interpolated(v))
		}
		opts, err := server.ProcessConfigFile(local)
		if err != nil {
			t.Fatalf("%s: nats-server refuses %s: %v", name, local, err)
		}
		out = append(out, natsServer{name: name, svc: s, opts: opts})
	}
	return out
}

// mounted is the file of this directory that service s mounts at target.
func mounted(t *testing.T, name string, s composeService, target string) string {
	t.Helper()
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target && strings.HasPrefix(parts[0], "./") {
			return parts[0][2:]
		}
	}
	t.Fatalf("%s: nothing of this directory is mounted at %s (volumes %v)", name, target, s.Volumes)
	return ""
}

func TestComposeNATSCluster(t *testing.T) {
	c := readCompose(t)
	servers := natsServers(t, c)
	if len(servers) != 3 {
		t.Fatalf("%d NATS services, want 3", len(servers))
	}
	names := map[string]string{} // server_name: service
	var services []string
	for _, n := range servers {
		if other, dup := names[n.opts.ServerName]; dup || n.opts.ServerName == "" {
			t.Errorf("%s: server_name %q, as %s's; want a name of its own", n.name, n.opts.ServerName, other)
		}
		names[n.opts.ServerName] = n.name
		services = append(services, n.name)
	}
	for _, n := range servers {
		o := n.opts
		// Jepsen: lazy fsync loses acknowledged writes, on a cluster too.
		if !o.JetStream || !o.SyncAlways {
			t.Errorf("%s: jetstream %v, sync_interval always %v; want both", n.name, o.JetStream, o.SyncAlways)
		}
		if o.Cluster.Name == "" || o.Cluster.Name != servers[0].opts.Cluster.Name || o.Cluster.Port == 0 {
			t.Errorf("%s: cluster %q port %d; want one named cluster", n.name, o.Cluster.Name, o.Cluster.Port)
		}
		var routes []string
		for _, r := range o.Routes {
			if r.Port() != fmt.Sprint(o.Cluster.Port) {
				t.Errorf("%s: route %s is not on the cluster port %d", n.name, r, o.Cluster.Port)
			}
			routes = append(routes, r.Hostname())
		}
		if slices.Sort(routes); !slices.Equal(routes, services) {
			t.Errorf("%s: routes to %v, want all of %v", n.name, routes, services)
		}
		// The store is a named volume of its own.
		store := ""
		for _, v := range n.svc.Volumes {
			if parts := strings.Split(v, ":"); len(parts) >= 2 && parts[1] == o.StoreDir {
				store = parts[0]
			}
		}
		if _, declared := c.Volumes[store]; !declared || o.StoreDir == "" {
			t.Errorf("%s: store_dir %q is not on a named volume (volumes %v)", n.name, o.StoreDir, n.svc.Volumes)
		}
		for _, m := range servers {
			if m.name != n.name && slices.Contains(m.svc.Volumes, store+":"+m.opts.StoreDir) {
				t.Errorf("%s and %s share the store volume %s", n.name, m.name, store)
			}
		}
		if n.svc.Healthcheck == nil || len(n.svc.Healthcheck.Test) == 0 {
			t.Errorf("%s: no health check (the workers wait for it)", n.name)
		}
	}
}

func TestComposeWorkers(t *testing.T) {
	c := readCompose(t)
	servers := natsServers(t, c)
	var natsHosts []string
	for _, n := range servers {
		natsHosts = append(natsHosts, n.name)
	}
	hostPorts := map[string]string{} // published host port: service
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		for _, p := range c.Services[name].Ports {
			h := strings.Split(p, ":")[0]
			if other, dup := hostPorts[h]; dup {
				t.Errorf("host port %s is published by %s and %s", h, other, name)
			}
			hostPorts[h] = name
		}
	}
	ids := map[string]string{}
	var metrics []string // the workers' metrics on the host
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		s := c.Services[name]
		env := s.Environment
		id := env["CHORUS_ID"]
		if id == "" {
			continue
		}
		if other, dup := ids[id]; dup {
			t.Errorf("%s and %s are both CHORUS_ID %s", name, other, id)
		}
		ids[id] = name
		var hosts []string
		for _, u := range strings.Split(env["CHORUS_NATS_URL"], ",") {
			p, err := url.Parse(u)
			if err != nil || p.Scheme != "nats" {
				t.Fatalf("%s: CHORUS_NATS_URL %q: %v", name, env["CHORUS_NATS_URL"], err)
			}
			i := slices.IndexFunc(servers, func(n natsServer) bool { return n.name == p.Hostname() })
			if i < 0 || p.Port() != fmt.Sprint(servers[i].opts.Port) {
				t.Errorf("%s: %s is no NATS service's client port", name, u)
			}
			hosts = append(hosts, p.Hostname())
		}
		if slices.Sort(hosts); !slices.Equal(hosts, natsHosts) {
			t.Errorf("%s: CHORUS_NATS_URL names %v, want every NATS server %v", name, hosts, natsHosts)
		}
		if env["CHORUS_LOG_REPLICAS"] != fmt.Sprint(len(servers)) {
			t.Errorf("%s: CHORUS_LOG_REPLICAS %q, want %d", name, env["CHORUS_LOG_REPLICAS"], len(servers))
		}
		// The worker's credentials come from the environment and are the
		// ones every NATS server gives the worker user.
		user, pass := env["CHORUS_NATS_USER"], env["CHORUS_NATS_PASSWORD"]
		if fromEnv(pass) == "" {
			t.Errorf("%s: CHORUS_NATS_PASSWORD %q; want ${VAR:?...} from the environment", name, pass)
		}
		for _, n := range servers {
			if !hasUser(n.opts, user, interpolated(pass)) {
				t.Errorf("%s: NATS server %s has no user %q with the password of %s", name, n.name, user, pass)
			}
		}
		// Metrics on a published port.
		_, port := hostPort(t, env["CHORUS_METRICS_ADDR"])
		published := ""
		for _, p := range s.Ports {
			if parts := strings.Split(p, ":"); len(parts) == 2 && parts[1] == port {
				published = parts[0]
			}
		}
		if published == "" {
			t.Errorf("%s: CHORUS_METRICS_ADDR %q is not published (ports %v)", name, env["CHORUS_METRICS_ADDR"], s.Ports)
		}
		metrics = append(metrics, "127.0.0.1:"+published)
		// It starts once NATS and Cassandra are healthy.
		var cassandra []string
		for _, hp := range strings.Split(env["CHORUS_CASSANDRA_HOSTS"], ",") {
			h, _ := hostPort(t, hp)
			cassandra = append(cassandra, h)
		}
		for _, dep := range append(slices.Clone(natsHosts), cassandra...) {
			d, ok := s.DependsOn[dep]
			if !ok || d.Condition != "service_healthy" {
				t.Errorf("%s: depends on %s %+v; want condition service_healthy", name, dep, d)
			}
			if target, ok := c.Services[dep]; !ok || target.Healthcheck == nil {
				t.Errorf("%s: depends on %s, which has no health check", name, dep)
			}
		}
		if s.Build == nil {
			t.Errorf("%s: no build", name)
		} else if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(ids) != 3 {
		t.Fatalf("%d workers, want 3", len(ids))
	}
	requirePrometheusTargets(t, metrics)
}

// hasUser reports whether the server configuration has user with password.
func hasUser(o *server.Options, user, password string) bool {
	return slices.ContainsFunc(o.Users, func(u *server.User) bool { return u.Username == user && u.Password == password })
}

// The NATS servers' environment passes the passwords from the host's.
func TestComposeNATSPasswordsFromEnv(t *testing.T) {
	for _, n := range natsServers(t, readCompose(t)) {
		for _, v := range []string{"CHORUS_WORKER_PASSWORD", "CHORUS_ADMIN_PASSWORD"} {
			if fromEnv(n.svc.Environment[v]) != v {
				t.Errorf("%s: %s %q; want ${%s:?...}", n.name, v, n.svc.Environment[v], v)
			}
		}
		if !hasUser(n.opts, "chorus-admin", secret("CHORUS_ADMIN_PASSWORD")) {
			t.Errorf("%s: no chorus-admin with CHORUS_ADMIN_PASSWORD", n.name)
		}
	}
}

// requirePrometheusTargets checks that prometheus/prometheus.yml scrapes
// exactly the workers' metrics, as job chorus (the alerts' job), with the
// alerting rules.
func requirePrometheusTargets(t *testing.T, want []string) {
	t.Helper()
	b, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &p); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	var targets []string
	for _, sc := range p.ScrapeConfigs {
		if sc.JobName == "chorus" {
			for _, s := range sc.StaticConfigs {
				targets = append(targets, s.Targets...)
			}
		}
	}
	slices.Sort(targets)
	slices.Sort(want)
	if !slices.Equal(targets, want) {
		t.Errorf("prometheus.yml scrapes %v as job chorus, want the workers' metrics %v", targets, want)
	}
	for _, f := range p.RuleFiles {
		if _, err := os.Stat(filepath.Join("prometheus", f)); err != nil {
			t.Errorf("prometheus.yml: rule file: %v", err)
		}
	}
	if len(p.RuleFiles) == 0 {
		t.Error("prometheus.yml loads no alerting rules")
	}
}

// TestShippedNATSConfigsDropFrozenClients: every NATS configuration the
// repository ships pings clients often enough that a frozen worker leaves
// the queue group on <prefix>.request within seconds, not minutes.
func TestShippedNATSConfigsDropFrozenClients(t *testing.T) {
	for _, f := range []string{"../nats.conf", "../nats-cluster.conf", "nats-docker.conf"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		iv := regexp.MustCompile(`(?m)^ping_interval:\s*"([^"]+)"`).FindSubmatch(b)
		mx := regexp.MustCompile(`(?m)^ping_max:\s*(\d+)`).FindSubmatch(b)
		if iv == nil || mx == nil {
			t.Errorf("%s: no ping_interval or ping_max: a frozen client keeps its requests for NATS's default of minutes", f)
			continue
		}
		d, err := time.ParseDuration(string(iv[1]))
		if err != nil {
			t.Fatalf("%s: ping_interval %q: %v", f, iv[1], err)
		}
		n, err := strconv.Atoi(string(mx[1]))
		if err != nil {
			t.Fatalf("%s: ping_max %q: %v", f, mx[1], err)
		}
		if worst := d * time.Duration(n+1); worst > 20*time.Second {
			t.Errorf("%s: ping_interval %s, ping_max %d: a frozen client is dropped only after up to %s, want 20s at most", f, d, n, worst)
		}
	}
	// The compose servers parse it as meant.
	for _, n := range natsServers(t, readCompose(t)) {
		if n.opts.PingInterval != 5*time.Second || n.opts.MaxPingsOut != 2 {
			t.Errorf("%s: ping interval %s, max pings out %d; want 5s and 2", n.name, n.opts.PingInterval, n.opts.MaxPingsOut)
		}
	}
}
