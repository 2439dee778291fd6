package translate

import "testing"

func TestAdaptiveModel(t *testing.T) {
	for model, want := range map[string]bool{
		"claude-opus-4-6":            true,
		"claude-opus-4-8":            true,
		"claude-sonnet-5":            true,
		"claude-sonnet-5-5":          true,
		"claude-haiku-5-5-20261001":  true,
		"claude-opus-5[1m]":          true,
		"claude-sonnet-4-5":          false,
		"claude-sonnet-4-5-20250929": false,
		"claude-opus-4-1":            false,
		"claude-3-7-sonnet-20250219": false,
		"claude-haiku-4-5":           false,
		"":                           false,
	} {
		if got := adaptiveModel(model); got != want {
			t.Errorf("adaptiveModel(%q) = %v, want %v", model, got, want)
		}
	}
}

func TestCallID(t *testing.T) {
	for _, s := range []string{"CiQBcsjafF3V+gqY/4zNAA==", "CiQBcsjafF3VgqY4zN-W1o_T0x", "abc"} {
		id := callID("toolu_01", sig{Gemini, s})
		base, got := parseCallID(id)
		if base != "toolu_01" || got != (sig{Gemini, s}) {
			t.Errorf("parseCallID(callID(%q)) = %q, %v", s, base, got)
		}
		for i := 0; i < len(id); i++ {
			if c := id[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Errorf("id %q has %q, outside Anthropic's tool id alphabet", id, c)
			}
		}
	}
	for _, id := range []string{"sg", "sg5", "sg5s", "sg99sabc_x", "sgx_1", "sg3sabc", "sg3qabc_x", "call_1"} {
		if base, s := parseCallID(id); base != id || s.fam != 0 {
			t.Errorf("parseCallID(%q) = %q, %v; want it unchanged", id, base, s)
		}
	}
	if got := callID("c", sig{Gemini, "a+b-c="}); got != "c" {
		t.Errorf("a signature in neither alphabet rode along: %q", got)
	}
}

func TestCarriers(t *testing.T) {
	for _, s := range []sig{{Messages, "EqQB"}, {Responses, "gAAAA=="}, {Gemini, "CiQB"}} {
		for _, red := range []bool{false, true} {
			if red && s.fam != Messages {
				continue
			}
			for native := Messages; native <= Gemini; native++ {
				if native == s.fam || native == Chat {
					continue
				}
				var got sig
				var gotRed bool
				if native == Gemini {
					got, gotRed = parseGeminiCarrier(s.geminiCarrier(red))
				} else {
					got, gotRed = parseCarrier(s.carrier(red), native)
				}
				if got != s || gotRed != red {
					t.Errorf("%v in a %v field: got %v (redacted %v), want %v (%v)", s, native, got, gotRed, s, red)
				}
			}
		}
	}
	if got, _ := parseCarrier("EqQB", Messages); got != (sig{Messages, "EqQB"}) {
		t.Errorf("a native value read as %v", got)
	}
	if got, _ := parseGeminiCarrier(geminiMagic + "!!"); got.fam != 0 {
		t.Errorf("a damaged carrier read as %v", got)
	}
}
