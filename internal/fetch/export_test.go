package fetch

// NewForTest returns a Client that may also dial the given "ip:port"
// addresses (httptest servers on loopback). It exists only in tests.
func NewForTest(opts Options, allowedAddrs ...string) *Client {
	return newClient(opts, allowedAddrs)
}
