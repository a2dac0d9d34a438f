package app

import (
	"testing"

	"github.com/bsodwatch/bsodwatch/ops"
)

func TestWebListen(t *testing.T) {
	for _, tc := range []struct {
		o    ops.Options
		want string
	}{
		{ops.Options{Listen: "127.0.0.1:9464"}, ""},
		{ops.Options{Listen: "[::1]:9464"}, ""},
		{ops.Options{Listen: "localhost:0"}, ""},
		{ops.Options{Listen: ":9464", WebConfigFile: "/etc/bsodwatch/web.yml"}, ""},
		{ops.Options{Listen: ""}, `listen: the web console is served on metrics.listen (--metrics), which is ""`},
		{ops.Options{Listen: ":9464"}, `listen: ":9464" is not a loopback address, and the web console shows crash dumps (server memory): give --web.config.file (metrics.web_config_file) with basic_auth_users, or listen on 127.0.0.1`},
		{ops.Options{Listen: "0.0.0.0:80"}, `listen: "0.0.0.0:80" is not a loopback address, and the web console shows crash dumps (server memory): give --web.config.file (metrics.web_config_file) with basic_auth_users, or listen on 127.0.0.1`},
	} {
		got := ""
		if err := webListen(tc.o); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.o, got, tc.want)
		}
	}
}
