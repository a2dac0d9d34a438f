package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks what can be checked without a Docker engine: the build context paths
// exist, the Go image matches go.mod, the binary is static and runs as non-root, the metrics
// port is exposed, and the default command is one the binary accepts.
func TestDockerfile(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	var lines []string // instructions, continuation lines joined
	sc := bufio.NewScanner(strings.NewReader(text))
	cur := ""
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		cur += strings.TrimSuffix(l, "\\") + " "
		if !strings.HasSuffix(l, "\\") {
			lines = append(lines, strings.TrimSpace(cur))
			cur = ""
		}
	}

	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVer == nil {
		t.Fatal("go.mod has no go directive")
	}
	var stages, user, cmd string
	exposed := false
	for _, l := range lines {
		f := strings.Fields(l)
		switch strings.ToUpper(f[0]) {
		case "FROM":
			stages += f[1] + " "
		case "COPY":
			if strings.HasPrefix(f[1], "--from=") || strings.HasPrefix(f[1], "--chown=") && strings.HasPrefix(f[2], "--from=") {
				continue
			}
			for _, src := range f[1 : len(f)-1] {
				if strings.HasPrefix(src, "--") {
					continue
				}
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("COPY source %s: %v", src, err)
				}
			}
		case "RUN":
			if strings.Contains(l, "go build") {
				if !strings.Contains(l, "CGO_ENABLED=0") {
					t.Error("go build without CGO_ENABLED=0: the binary would not be static")
				}
				pkg := regexp.MustCompile(`\./cmd/\S+`).FindString(l)
				if _, err := os.Stat(filepath.Join(root, pkg, "main.go")); pkg == "" || err != nil {
					t.Errorf("go build target %q is not the command's package", pkg)
				}
			}
		case "USER":
			user = f[1]
		case "EXPOSE":
			for _, p := range f[1:] {
				exposed = exposed || p == "9464"
			}
		case "CMD":
			cmd = strings.TrimPrefix(l, f[0]+" ")
		}
	}
	if !strings.Contains(stages, "golang:"+string(goVer[1])) {
		t.Errorf("build stage %q does not use Go %s from go.mod", stages, goVer[1])
	}
	if !strings.Contains(stages, "distroless/static") && !strings.Contains(stages, "scratch") {
		t.Errorf("final stage %q is not a static base", stages)
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0") {
		t.Errorf("USER %q: the image must run as non-root", user)
	}
	if !exposed {
		t.Error("the metrics port 9464 is not exposed")
	}
	// The default command's flags must be ones `bsodwatch run` knows.
	args := regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(cmd, -1)
	if len(args) == 0 || args[0][1] != "run" {
		t.Fatalf("CMD %q does not start the run command", cmd)
	}
	help, _ := exec.Command(bin.bsodwatch, "run", "--help").CombinedOutput()
	for _, a := range args[1:] {
		if strings.HasPrefix(a[1], "--") && !strings.Contains(string(help), "  -"+strings.TrimPrefix(a[1], "--")+" ") {
			t.Errorf("CMD flag %s is not a flag of bsodwatch run:\n%s", a[1], help)
		}
	}
}
