// Loads with the OpenSSL API directly (not asio::ssl::context's helpers) to report the whole
// OpenSSL error queue, not only its first entry, and to control the password callback: OpenSSL's
// default one would prompt on the terminal for an encrypted key.

#include "invoker/http/tls_context.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

namespace eddy::http_invoker {
namespace {

namespace ssl = boost::asio::ssl;

// The reasons in OpenSSL's error queue, oldest first, without repeats; clears the queue.
std::string DrainOpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    std::string text = reason ? reason : "error " + std::to_string(e);
    if (out.find(text) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

std::string Quote(const std::string& field, const std::string& path) {
  return "transport." + field + " '" + path + "'";
}

// A regular file we can open: checked first so the message says what is wrong with the file,
// not what OpenSSL made of it.
Status CheckReadable(const std::string& field, const std::string& path) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    return InvalidArgument(Quote(field, path) + ": file does not exist");
  }
  if (!std::filesystem::is_regular_file(status)) {
    return InvalidArgument(Quote(field, path) + ": not a regular file");
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return InvalidArgument(Quote(field, path) + ": cannot read: " + std::strerror(errno));
  }
  std::fclose(f);
  return Status::Ok();
}

// The password is the file's content without trailing line breaks (files written by `echo`).
Result<std::string> ReadPassword(const std::string& path) {
  EDDY_RETURN_IF_ERROR(CheckReadable("client_key_password", path));
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return InvalidArgument(Quote("client_key_password", path) + ": cannot read");
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// userdata: the password (nullptr = none). Returning 0 makes decrypting an encrypted key fail
// instead of prompting.
int PasswordCallback(char* buf, int size, int /*rwflag*/, void* userdata) {
  const auto* password = static_cast<const std::string*>(userdata);
  if (password == nullptr || size <= 0) return 0;
  if (password->size() > static_cast<size_t>(size)) return 0;
  std::memcpy(buf, password->data(), password->size());
  return static_cast<int>(password->size());
}

Status LoadClientCertificate(SSL_CTX* ctx, const HttpTransportSpec& t) {
  if (t.client_cert.empty() != t.client_key.empty()) {
    return InvalidArgument(t.client_cert.empty()
                               ? Quote("client_key", t.client_key) +
                                     " is set but transport.client_cert is not (mTLS needs both)"
                               : Quote("client_cert", t.client_cert) +
                                     " is set but transport.client_key is not (mTLS needs both)");
  }
  if (t.client_cert.empty()) {
    if (!t.client_key_password.empty()) {
      return InvalidArgument(Quote("client_key_password", t.client_key_password) +
                             " is set but transport.client_key is not");
    }
    return Status::Ok();
  }
  EDDY_RETURN_IF_ERROR(CheckReadable("client_cert", t.client_cert));
  EDDY_RETURN_IF_ERROR(CheckReadable("client_key", t.client_key));
  std::string password;
  if (!t.client_key_password.empty()) {
    auto read = ReadPassword(t.client_key_password);
    if (!read.ok()) return read.status();
    password = std::move(read).value();
  }

  // The key on its own first: its errors (bad decrypt, not a key) must not read as a mismatch.
  ERR_clear_error();
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(t.client_key.c_str(), "r"),
                                                &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, PasswordCallback,
                                    t.client_key_password.empty() ? nullptr : &password)
          : nullptr,
      &EVP_PKEY_free);
  if (!key) {
    std::string why = DrainOpenSslErrors();
    std::string hint = t.client_key_password.empty()
                           ? " (if the key is encrypted, set transport.client_key_password)"
                           : " with the password from " +
                                 Quote("client_key_password", t.client_key_password);
    return InvalidArgument(Quote("client_key", t.client_key) +
                           ": cannot load the PEM private key" + hint + ": " + why);
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, t.client_cert.c_str()) != 1) {
    return InvalidArgument(Quote("client_cert", t.client_cert) +
                           ": not a usable PEM certificate: " + DrainOpenSslErrors());
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return InvalidArgument(Quote("client_key", t.client_key) + " does not belong to " +
                           Quote("client_cert", t.client_cert) + ": " + DrainOpenSslErrors());
  }
  return Status::Ok();
}

}  // namespace

bool HasTlsSettings(const HttpTransportSpec& t) {
  return !t.trust_cacerts.empty() || !t.client_cert.empty() || !t.client_key.empty() ||
         !t.client_key_password.empty();
}

Result<std::shared_ptr<ssl::context>> MakeClientTlsContext(const HttpTransportSpec& t) {
  std::shared_ptr<ssl::context> context;
  try {
    context = std::make_shared<ssl::context>(ssl::context::tls_client);
  } catch (const std::exception& e) {
    return Internal(std::string("cannot create a TLS context: ") + e.what());
  }
  SSL_CTX* ctx = context->native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // Never prompt, even if something asks for a password later.
  SSL_CTX_set_default_passwd_cb(ctx, PasswordCallback);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);

  if (t.trust_cacerts.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return InvalidArgument("cannot load the system's default CA certificates (set "
                             "transport.trust_cacerts): " + DrainOpenSslErrors());
    }
  } else {
    EDDY_RETURN_IF_ERROR(CheckReadable("trust_cacerts", t.trust_cacerts));
    if (SSL_CTX_load_verify_locations(ctx, t.trust_cacerts.c_str(), nullptr) != 1) {
      return InvalidArgument(Quote("trust_cacerts", t.trust_cacerts) +
                             ": no usable PEM CA certificate: " + DrainOpenSslErrors());
    }
  }
  EDDY_RETURN_IF_ERROR(LoadClientCertificate(ctx, t));
  ERR_clear_error();
  return context;
}

}  // namespace eddy::http_invoker
