package worker

import (
	"regexp"
	"runtime/debug"
	"strings"
)

// Version is the worker's version as the micro service reports it. A
// release build sets it: go build -ldflags "-X github.com/chorusdb/chorus/worker.Version=1.2.0".
// Otherwise it comes from the binary's build information.
var Version string

// semVer is semver.org's expression, which NATS micro requires of a version.
var semVer = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// version is Version, else the module version go stamped into the binary
// (a tag, or a pseudo-version of the commit when built in a checkout),
// else 0.0.0-dev with the commit when known.
func version() string {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(Version, bi)
}

func versionOf(set string, bi *debug.BuildInfo) string {
	if v := strings.TrimPrefix(set, "v"); semVer.MatchString(v) {
		return v
	}
	if bi == nil {
		return "0.0.0-dev"
	}
	if v := strings.TrimPrefix(bi.Main.Version, "v"); semVer.MatchString(v) {
		return v
	}
	dev := "0.0.0-dev"
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			dev += "+" + s.Value[:12]
		}
	}
	return dev
}
