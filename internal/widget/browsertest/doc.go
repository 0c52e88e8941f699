// Package browsertest drives the widget in headless Chromium (chromedp):
// the loader on a host page of one origin, the frame and its socket on
// another. Its tests run against a protocol-faithful stand-in of the widget
// server (docs/widget-protocol.md), so the front-end is tested on its own;
// end-to-end runs against the real server live beside them.
//
// Chromium comes from testenv.ChromiumPath: the tests skip without it,
// and fail in CI.
package browsertest
