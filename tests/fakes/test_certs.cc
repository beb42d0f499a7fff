// Runs the openssl CLI (Debian's openssl package, always present with libssl) rather than the
// OpenSSL API: the commands are the ones an operator would run, and the test code stays short.

#include "fakes/test_certs.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "fakes/process.h"

namespace eddy::testing {
namespace {

Status Run(const std::string& dir, const std::string& command) {
  std::string full = "cd '" + dir + "' && " + command + " > openssl.log 2>&1";
  int rc = std::system(full.c_str());
  if (rc != 0) {
    std::ifstream log(dir + "/openssl.log");
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    return Internal("openssl failed (" + command + "): " + text);
  }
  return Status::Ok();
}

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return out ? Status::Ok() : Internal("cannot write " + path);
}

// A CA key and self-signed certificate.
Status MakeCa(const std::string& dir, const std::string& name) {
  return Run(dir, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
                  " -keyout " + name + ".key -out " + name + ".pem -days 2 -subj /CN=" + name +
                  " -addext basicConstraints=critical,CA:TRUE"
                  " -addext keyUsage=critical,keyCertSign,cRLSign");
}

// A leaf key (PKCS#8) and a certificate signed by `ca`, with the SANs in ext.cnf.
Status MakeLeaf(const std::string& dir, const std::string& name, const std::string& ca,
                const std::string& usage) {
  EDDY_RETURN_IF_ERROR(WriteFile(dir + "/" + name + ".cnf",
                                 "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                 "extendedKeyUsage=" + usage + "\n"));
  EDDY_RETURN_IF_ERROR(Run(dir, "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
                                " -nodes -keyout " + name + ".key -out " + name +
                                ".csr -subj /CN=localhost"));
  return Run(dir, "openssl x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca +
                  ".key -CAcreateserial -out " + name + ".pem -days 2 -extfile " + name + ".cnf");
}

}  // namespace

Result<TestCerts> GenerateTestCerts() {
  TestCerts c;
  c.dir = MakeTempDir("eddy-certs");
  EDDY_RETURN_IF_ERROR(MakeCa(c.dir, "ca"));
  EDDY_RETURN_IF_ERROR(MakeCa(c.dir, "other-ca"));
  EDDY_RETURN_IF_ERROR(MakeLeaf(c.dir, "server", "ca", "serverAuth"));
  EDDY_RETURN_IF_ERROR(MakeLeaf(c.dir, "client", "ca", "clientAuth"));
  EDDY_RETURN_IF_ERROR(MakeLeaf(c.dir, "other", "other-ca", "serverAuth,clientAuth"));
  EDDY_RETURN_IF_ERROR(WriteFile(c.dir + "/client-key.password", "s3cret\n"));
  EDDY_RETURN_IF_ERROR(Run(c.dir, "openssl pkcs8 -topk8 -in client.key -out client-enc.key"
                                  " -passout file:client-key.password -v2 aes-256-cbc"));
  c.ca_cert = c.dir + "/ca.pem";
  c.server_cert = c.dir + "/server.pem";
  c.server_key = c.dir + "/server.key";
  c.client_cert = c.dir + "/client.pem";
  c.client_key = c.dir + "/client.key";
  c.client_key_encrypted = c.dir + "/client-enc.key";
  c.client_key_password_file = c.dir + "/client-key.password";
  c.other_ca_cert = c.dir + "/other-ca.pem";
  c.other_cert = c.dir + "/other.pem";
  c.other_key = c.dir + "/other.key";
  return c;
}

}  // namespace eddy::testing
