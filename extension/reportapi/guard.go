package reportapi

import (
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// HeaderRequest is the custom header that, like Content-Type:
// application/json, makes a POST a non-simple request a browser only sends
// cross-origin after a CORS preflight (CSRF protection of the POST routes).
const HeaderRequest = "X-Runledger-Request"

// hostEntry is one accepted Host: a lowercased name and an optional port.
type hostEntry struct {
	name, port string
}

// parseHost splits a Host header value ("name", "name:port", "[v6]",
// "[v6]:port") into a lowercased name without trailing dot and its port.
func parseHost(s string) (hostEntry, error) {
	if s == "" {
		return hostEntry{}, errors.New("empty host")
	}
	if strings.ContainsAny(s, "/@?#\\ \t\r\n") || strings.Contains(s, "://") {
		return hostEntry{}, fmt.Errorf("host %q must be a host name or address with an optional port", truncateID(s))
	}
	name, port := s, ""
	switch {
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		name = s[1 : len(s)-1]
	case strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1:
		var err error
		if name, port, err = net.SplitHostPort(s); err != nil {
			return hostEntry{}, fmt.Errorf("host %q: %w", truncateID(s), err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || port == "" {
			return hostEntry{}, fmt.Errorf("host %q has an invalid port", truncateID(s))
		}
	case strings.Contains(s, ":"):
		return hostEntry{}, fmt.Errorf("host %q: an IPv6 address needs brackets", truncateID(s))
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if name == "" {
		return hostEntry{}, fmt.Errorf("host %q has an empty name", truncateID(s))
	}
	return hostEntry{name: name, port: port}, nil
}

// parseAllowedHost parses an allowed_hosts entry: "*", a name, an address,
// bracketed or bare IPv6, each with an optional port.
func parseAllowedHost(s string) (hostEntry, error) {
	if s == "*" {
		return hostEntry{name: "*"}, nil
	}
	if strings.Contains(s, "*") {
		return hostEntry{}, fmt.Errorf("%q: \"*\" is only valid alone", s)
	}
	if ip := net.ParseIP(s); ip != nil {
		return hostEntry{name: strings.ToLower(s)}, nil
	}
	return parseHost(s)
}

func isLoopbackName(name string) bool {
	if name == "localhost" {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// hostPolicy decides which Host headers the server answers (DNS rebinding
// protection).
type hostPolicy struct {
	any      bool        // every Host is accepted
	self     string      // the endpoint's host name, "" when none
	loopback bool        // every loopback name is accepted
	port     string      // the listening port; self and loopback names must use it
	allowed  []hostEntry // allowed_hosts
}

// newHostPolicy builds the policy of endpoint listening on addr.
func newHostPolicy(endpoint string, addr net.Addr, allowedHosts []string) (*hostPolicy, error) {
	p := &hostPolicy{}
	if addr != nil {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			p.port = port
		}
	}
	for _, s := range allowedHosts {
		e, err := parseAllowedHost(s)
		if err != nil {
			return nil, fmt.Errorf("allowed_hosts: %w", err)
		}
		if e.name == "*" {
			p.any = true
		}
		p.allowed = append(p.allowed, e)
	}
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		host = endpoint
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	ip := net.ParseIP(host)
	switch {
	case host == "" || ip != nil && ip.IsUnspecified():
		// All interfaces: no single name to check against.
		if len(p.allowed) == 0 {
			p.any = true
		}
		p.loopback = true
	case isLoopbackName(host):
		p.loopback = true
	default:
		p.self = host
	}
	return p, nil
}

func (p *hostPolicy) allow(hostHeader string) bool {
	if p.any {
		return true
	}
	h, err := parseHost(hostHeader)
	if err != nil {
		return false
	}
	portOK := h.port == "" || h.port == p.port
	if portOK && (h.name == p.self || p.loopback && isLoopbackName(h.name)) {
		return true
	}
	for _, e := range p.allowed {
		if e.name == h.name && (e.port == "" || e.port == h.port) {
			return true
		}
	}
	return false
}

// nonSimplePost reports whether req is a POST a browser cannot send
// cross-origin without a CORS preflight: JSON body type or HeaderRequest.
func nonSimplePost(req *http.Request) bool {
	if req.Header.Get(HeaderRequest) != "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	return err == nil && mt == contentJSON
}
