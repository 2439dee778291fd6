package main

import (
	"strings"
	"testing"
)

// TestConfigTranslate: a key's translate and its group's [groups.NAME]
// translate reach the proxy's key; both default to true.
func TestConfigTranslate(t *testing.T) {
	cfg, err := LoadConfig(writeConfig(t, `
[[keys]]
name = "free"
key = "sk-sg-free"

[[keys]]
name = "native-only"
key = "sk-sg-native"
translate = false

[[keys]]
name = "closed-group"
key = "sk-sg-closed"
group = "genuine"

[groups.genuine]
translate = false

[groups.open]
`))
	if err != nil {
		t.Fatal(err)
	}
	groups := proxyGroups(cfg.Groups)
	if g, ok := groups["genuine"]; !ok || g.Translate {
		t.Errorf("groups.genuine = %+v, %v; want translate false", g, ok)
	}
	if g := groups["open"]; !g.Translate {
		t.Errorf("groups.open translate = false, want the default true")
	}
	want := map[string]bool{"free": true, "native-only": false, "closed-group": true} // the group applies in the proxy's pool
	for _, k := range cfg.Keys {
		pk, err := proxyKey(k.Model())
		if err != nil {
			t.Fatal(err)
		}
		if pk.Translate != want[k.Name] {
			t.Errorf("key %s translate = %v, want %v", k.Name, pk.Translate, want[k.Name])
		}
	}
	if _, err := LoadConfig(writeConfig(t, "[groups.g]\ntranslat = false\n")); err == nil || !strings.Contains(err.Error(), "translat") {
		t.Errorf("a misspelt group key loaded: %v", err)
	}
}
