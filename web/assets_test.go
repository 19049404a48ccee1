package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The page works offline and under its Content-Security-Policy: nothing
// is fetched from elsewhere, no script or style is inline, no handler is
// an attribute.
func TestAssetsSelfContained(t *testing.T) {
	t.Parallel()
	refused := []struct {
		what string
		re   *regexp.Regexp
	}{
		{"an address elsewhere", regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`)},
		{"an inline script", regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<]+</script>`)},
		{"a script without src", regexp.MustCompile(`(?i)<script(?:\s+(?:defer|type="[^"]*"))*\s*>`)},
		{"an inline style", regexp.MustCompile(`(?i)<style|\sstyle=`)},
		{"a handler attribute", regexp.MustCompile(`(?i)\son[a-z]+=`)},
		{"markup from a string", regexp.MustCompile(`innerHTML\s*=|outerHTML\s*=|insertAdjacentHTML|document\.write`)},
		{"eval", regexp.MustCompile(`\beval\(|new Function\(`)},
	}
	err := fs.WalkDir(assetFS, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := assetFS.ReadFile(path)
		if err != nil {
			return err
		}
		// The SVG namespace is a name, never fetched.
		text := strings.ReplaceAll(string(data), `"http://www.w3.org/2000/svg"`, "SVGNS")
		if strings.HasSuffix(path, ".js") {
			// Comments may name things; the code may not.
			text = regexp.MustCompile(`(?m)^\s*//.*$`).ReplaceAllString(text, "")
		}
		for _, r := range refused {
			if m := r.re.FindString(text); m != "" {
				t.Errorf("%s has %s: %q", path, r.what, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
