#pragma once
// The client TLS context of one HTTP invoker (private to src/invoker/http).

#include <memory>

#include <boost/asio/ssl/context.hpp>

#include "eddy/common/status.h"
#include "eddy/config/module_spec.h"

namespace eddy::http_invoker {

// True when any of the transport's TLS file fields is set.
bool HasTlsSettings(const HttpTransportSpec& transport);

// Builds a TLS 1.2+ client context that verifies the server's chain (against trust_cacerts, or
// the system's default verify paths when it is empty) and, with client_cert + client_key, presents
// a client certificate (mTLS). client_key is a PEM private key (PKCS#8, possibly encrypted);
// client_key_password names a file whose content, without its trailing newline, is the key's
// password. Every file is read and checked here, so a bad one fails at creation with an
// InvalidArgument naming the field and the file. Host names are checked per connection.
// Shared: every TLS connection holds it (its SSL objects and settings live in it).
Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientTlsContext(
    const HttpTransportSpec& transport);

}  // namespace eddy::http_invoker
