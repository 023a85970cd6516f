package worker

import (
	"runtime/debug"
	"testing"
)

func TestVersionIsSemVerForMicro(t *testing.T) {
	devel := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "5b06a4b1c2d3e4f5a6b7"}}}
	for _, tc := range []struct {
		set  string
		bi   *debug.BuildInfo
		want string
	}{
		{"1.2.0", devel, "1.2.0"},
		{"v1.2.0-rc.1", nil, "1.2.0-rc.1"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.1"}}, "0.3.1"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201115002-5b06a4b1c2d3+dirty"}}, "0.0.0-20261201115002-5b06a4b1c2d3+dirty"},
		{"", devel, "0.0.0-dev+5b06a4b1c2d3"},
		{"not a version", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "0.0.0-dev"},
		{"", nil, "0.0.0-dev"},
	} {
		if got := versionOf(tc.set, tc.bi); got != tc.want || !semVer.MatchString(got) {
			t.Errorf("versionOf(%q, %+v) = %q, want %q", tc.set, tc.bi, got, tc.want)
		}
	}
}
