#pragma once
// The remote HTTP invoker: StateFun's default `io.statefun.transports.v1/async` transport over
// HTTP/1.1 (Boost.Beast, kept out of this header). One instance serves every function type of
// one module.yaml endpoint and belongs to one shard: it is created, called, shut down and
// destroyed on the thread that runs `io`, and posts every callback to `io` (never inline).
//
// URLs (endpoint.url_path_template, scheme case-insensitive):
//   http://host[:port]/path            plain TCP
//   https://host[:port]/path           TLS; the certificate must match host (DNS name, sent as
//                                      SNI, or IP literal)
//   http+unix:///run/fn.sock/path      a co-located server on a unix socket (StateFun/okhttp
//                                      form): the socket is the path up to the first segment
//                                      ending in ".sock", the rest is the HTTP path ("/" if none);
//                                      Host header "localhost"
//   https+unix:///run/fn.sock/path     TLS over the unix socket; the certificate must match
//                                      "localhost"
// TLS settings come from endpoint.transport: trust_cacerts (PEM CA bundle; empty = the system's
// default CAs), client_cert + client_key (PEM, the key PKCS#8 and possibly encrypted) for mTLS,
// client_key_password (a file whose content, trailing newline stripped, is the key's password).
//
// Per peer (host:port or socket path) it keeps a pool of keep-alive connections (at most
// transport.pool_size, idle ones closed after transport.pool_ttl, TLS ones with close_notify),
// one request per connection at a time. Every failed attempt (connect/TLS handshake/I/O error,
// timeout, non-2xx, wrong Content-Type, oversized or unparseable body) is retried with
// exponential backoff until transport.call_timeout is spent, then the call fails with
// DeadlineExceeded naming the last error (e.g. "certificate verify failed (...)").
//
// Destroying the invoker shuts it down (pending callbacks get Unavailable). `io` must outlive it;
// handlers still queued in `io` afterwards keep the internals alive and complete as no-ops.

#include "eddy/config/module_spec.h"
#include "eddy/invoker/invoker.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace eddy {

// `endpoint` is copied. The URL for a batch is endpoint.url_path_template with "{function.name}"
// replaced by batch.target.type.name. Fails with InvalidArgument when the URL template is
// malformed or unsupported, or when a TLS file (CA bundle, client certificate, client key,
// password file) is missing, unreadable or invalid, or the key password is wrong; the message
// names the field and the file. Nothing is connected at creation.
Result<InvokerPtr> MakeHttpInvoker(boost::asio::io_context& io, const EndpointSpec& endpoint);

}  // namespace eddy
