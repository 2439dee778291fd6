package metrics

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"

	"subgate/ledger"
)

// TestModelLabelsBounded: model names come from clients, so the model
// label takes maxModelLabels values at most; the requests of any later
// model are still counted, as "other".
func TestModelLabelsBounded(t *testing.T) {
	m := New()
	for i := range maxModelLabels + 10 {
		m.Request(Labels{Proto: "anthropic", Key: "k", Account: "a", Model: "m" + strconv.Itoa(i), Status: 200}, ledger.Usage{InputTokens: 1}, 0)
	}
	m.Request(Labels{Proto: "anthropic", Key: "k", Account: "a", Model: "m0", Status: 200}, ledger.Usage{}, 0)
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	m.Write(w, Sources{})
	w.Flush()
	models := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "subgate_requests_total{") {
			continue
		}
		i := strings.Index(line, `model="`)
		model := line[i+7 : i+7+strings.Index(line[i+7:], `"`)]
		models[model] = line[strings.LastIndex(line, " ")+1:]
	}
	if got, want := len(models), maxModelLabels+1; got != want {
		t.Errorf("%d model label values, want %d (the first %d and other)", got, want, maxModelLabels)
	}
	if got, want := models["other"], "10"; got != want {
		t.Errorf("other = %s requests, want %s", got, want)
	}
	if got, want := models["m0"], "2"; got != want {
		t.Errorf("m0 = %s requests, want %s", got, want)
	}
}
