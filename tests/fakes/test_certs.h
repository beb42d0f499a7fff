#pragma once
// Throwaway TLS material for tests, generated with the openssl command-line tool into a temp
// directory: a CA, a server certificate for 127.0.0.1/localhost signed by it, a client
// certificate signed by it (mTLS), and a second, unrelated CA plus a certificate signed by that
// one (the "wrong" side for negative tests). Keys are unencrypted PKCS#8 PEM, except
// client_key_encrypted (password in client_key_password_file), as StateFun's transport accepts.

#include <string>

#include "eddy/common/status.h"

namespace eddy::testing {

struct TestCerts {
  std::string dir;
  std::string ca_cert;           // trusted CA
  std::string server_cert;       // CN=localhost, SAN IP:127.0.0.1, DNS:localhost; signed by ca
  std::string server_key;
  std::string client_cert;       // signed by ca
  std::string client_key;
  std::string client_key_encrypted;
  std::string client_key_password_file;
  std::string other_ca_cert;     // unrelated CA
  std::string other_cert;        // signed by other_ca (SAN 127.0.0.1, localhost)
  std::string other_key;
};

// Generates a fresh set (about a second of CPU for the RSA-2048 keys; EC P-256 keys are used to
// keep it faster). Fails with the openssl output when the tool is missing or fails.
Result<TestCerts> GenerateTestCerts();

}  // namespace eddy::testing
