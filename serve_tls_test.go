package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"subgate/proxy/upstreamtest"
)

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "subgate test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// TestServeTLSAndAdminListen: the gateway answers over TLS, and with
// admin_listen the admin API lives only on its own listener.
func TestServeTLSAndAdminListen(t *testing.T) {
	up := startMock(t, upstreamtest.Config{})
	dir, addr, adminAddr := t.TempDir(), freeAddr(t), freeAddr(t)
	cert, key := selfSigned(t, dir)
	cfgPath := writeServeConfig(t, dir, addr, up.URL(), serveOpts{
		server: fmt.Sprintf("admin_listen = %q\ntls_cert = %q\ntls_key = %q", adminAddr, cert, key)})

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	out := &lockedBuffer{}
	go func() { done <- run(ctx, []string{"-c", cfgPath}, strings.NewReader(""), out, out) }()
	defer func() { cancel(); <-done }()
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err = client.Get("https://" + addr + "/healthz"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no TLS healthz: %v\n%s", err, out.String())
	}
	resp.Body.Close()
	req, _ := http.NewRequest("POST", "https://"+addr+"/v1/messages", strings.NewReader(serveBody))
	req.Header.Set("x-api-key", serveKey)
	if resp, err = client.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("message over TLS: %v %v", resp, err)
	}
	resp.Body.Close()
	// Admin API: not on the main listener, present on admin_listen.
	req, _ = http.NewRequest("GET", "https://"+addr+"/admin/api/accounts", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	if resp, err = client.Do(req); err != nil || resp.StatusCode != 404 {
		t.Errorf("admin on the main listener: %v %v", resp, err)
	}
	req, _ = http.NewRequest("GET", "https://"+adminAddr+"/admin/api/accounts", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	if resp, err = client.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("admin on admin_listen: %v %v", resp, err)
	}
}
