// Why libcurl, and why only for this request. A Delta commit must be put-if-absent (a PUT with
// `If-None-Match: *`), and Arrow 22's S3FileSystem has no option that sends that header
// (apache/arrow#44281 closed unfixed); the AWS SDK that does lives inside the pyarrow wheel's
// libarrow, linked statically, with no exported symbols and no headers, so it cannot be called.
// The smallest honest way is then one request of our own: libcurl (Debian's, 7.88) signs it with
// SigV4 itself (CURLOPT_AWS_SIGV4, since 7.75), with the very credentials, region, endpoint and
// addressing that Arrow's S3Options resolved (s3_store.cpp passes them in), so it reaches the
// object Arrow lists and reads, under the same identity. Nothing else goes through here: every
// other request (listings, reads, data files, checkpoints) stays with Arrow, whose retries and
// multipart uploads we do not want to write again. Not a signer of our own either: libcurl's is
// tested against AWS, and ours would be one more thing to get subtly wrong.
#include "sink/parquet/s3_conditional_put.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include <curl/curl.h>
#include <openssl/evp.h>

namespace clickstream::sink {

namespace {

// The connection is made within seconds or not at all; after that, a transfer that moves less
// than one byte a second for kStallSeconds is given up (a commit is a few KB); and no commit
// request takes longer than kTotalSeconds, whatever the server does.
constexpr long kConnectTimeoutMs = 3000;
constexpr long kStallSeconds = 10;
constexpr long kTotalSeconds = 30;
// Enough of an error body to find its <Code>; S3 error documents are a few hundred bytes.
constexpr size_t kMaxResponseBytes = 16 * 1024;

// curl_global_init is not thread-safe in 7.88 and must run before the first handle.
void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyCleanup {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
using EasyHandle = std::unique_ptr<CURL, EasyCleanup>;

// A request's headers. curl_slist_append returns the new head, or nullptr (the old list intact)
// when out of memory.
class HeaderList {
 public:
  HeaderList() = default;
  ~HeaderList() { curl_slist_free_all(head_); }
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;

  arrow::Status Append(const std::string& line) {
    curl_slist* head = curl_slist_append(head_, line.c_str());
    if (head == nullptr) return arrow::Status::OutOfMemory("cannot add the header ", line.substr(0, line.find(':')));
    head_ = head;
    return arrow::Status::OK();
  }
  curl_slist* get() const { return head_; }

 private:
  curl_slist* head_ = nullptr;
};

// The body, handed to curl as it asks for it.
struct BodyReader {
  const uint8_t* data;
  size_t size;
  size_t offset = 0;

  static size_t Read(char* buffer, size_t size, size_t count, void* self) {
    auto* reader = static_cast<BodyReader*>(self);
    const size_t n = std::min(size * count, reader->size - reader->offset);
    std::memcpy(buffer, reader->data + reader->offset, n);
    reader->offset += n;
    return n;
  }
};

size_t KeepResponse(char* data, size_t size, size_t count, void* response) {
  auto* text = static_cast<std::string*>(response);
  const size_t n = size * count;
  text->append(data, std::min(n, kMaxResponseBytes - std::min(kMaxResponseBytes, text->size())));
  return n;
}

// x-amz-content-sha256: with the header present, libcurl signs its value as the payload hash
// (since 7.87); without it an S3 request is signed as UNSIGNED-PAYLOAD, which some S3 services
// refuse over plain HTTP. So the real hash goes in, and the store checks the bytes against it.
arrow::Result<std::string> Sha256Hex(const arrow::Buffer& body) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(body.data(), static_cast<size_t>(body.size()), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    return arrow::Status::UnknownError("cannot compute the SHA-256 of the commit");
  }
  std::string hex;
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return hex;
}

// Each byte of the key outside RFC 3986's unreserved set (and '/') as %XX: the form S3's SigV4
// canonical URI expects, which libcurl signs as the path is written.
std::string EncodeKey(const std::string& key) {
  std::string encoded;
  for (const unsigned char c : key) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      encoded.push_back(static_cast<char>(c));
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof(escaped), "%%%02X", c);
      encoded += escaped;
    }
  }
  return encoded;
}

std::string EndpointOf(const S3PutTarget& target) {
  if (!target.endpoint_override.empty()) return target.scheme + "://" + target.endpoint_override;
  return target.scheme + "://s3." + target.region + ".amazonaws.com";
}

std::string UrlOf(const S3PutTarget& target, const std::string& key) {
  const std::string host = target.endpoint_override.empty() ? "s3." + target.region + ".amazonaws.com"
                                                            : target.endpoint_override;
  // A bucket name with dots would not match the TLS certificate of *.s3…amazonaws.com.
  const bool virtual_host = target.virtual_addressing && target.bucket.find('.') == std::string::npos;
  if (virtual_host) return target.scheme + "://" + target.bucket + "." + host + "/" + EncodeKey(key);
  return target.scheme + "://" + host + "/" + target.bucket + "/" + EncodeKey(key);
}

// The <Code> of an S3 error document, or "".
std::string ErrorCode(const std::string& response) {
  const size_t start = response.find("<Code>");
  if (start == std::string::npos) return "";
  const size_t end = response.find("</Code>", start);
  if (end == std::string::npos) return "";
  return response.substr(start + 6, end - start - 6);
}

std::string HttpCause(long status, const std::string& code) {
  return "HTTP " + std::to_string(status) + (code.empty() ? "" : " " + code);
}

}  // namespace

arrow::Result<ConditionalPutAnswer> PutIfAbsent(const S3PutTarget& target, const S3Credentials& credentials,
                                                const std::string& key, const arrow::Buffer& body) {
  EnsureCurlInitialized();
  const std::string object = "s3://" + target.bucket + "/" + key;
  const std::string endpoint = EndpointOf(target);
  EasyHandle handle(curl_easy_init());
  if (!handle) return arrow::Status::OutOfMemory("cannot start a request to ", endpoint);
  CURL* curl = handle.get();

  ARROW_ASSIGN_OR_RAISE(const std::string payload_hash, Sha256Hex(body));
  HeaderList headers;
  ARROW_RETURN_NOT_OK(headers.Append("If-None-Match: *"));
  ARROW_RETURN_NOT_OK(headers.Append("Content-Type: application/octet-stream"));
  ARROW_RETURN_NOT_OK(headers.Append("x-amz-content-sha256: " + payload_hash));
  if (!credentials.session_token.empty()) {
    ARROW_RETURN_NOT_OK(headers.Append("x-amz-security-token: " + credentials.session_token));
  }
  // Not "Expect:" to save the 100-continue round trip of a large commit: libcurl 7.88 would sign
  // the header it then leaves out, and every store answers SignatureDoesNotMatch.

  const std::string url = UrlOf(target, key);
  const std::string sigv4 = "aws:amz:" + target.region + ":s3";
  const std::string user_password = credentials.access_key + ":" + credentials.secret_key;
  BodyReader reader{body.data(), static_cast<size_t>(body.size())};
  std::string response;
  char error_buffer[CURL_ERROR_SIZE] = "";

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, &BodyReader::Read);
  curl_easy_setopt(curl, CURLOPT_READDATA, &reader);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &KeepResponse);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  if (!credentials.access_key.empty()) {
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(curl, CURLOPT_USERPWD, user_password.c_str());
  }
  // The status is the answer (412 is an outcome, not a failure): read it, never fail on it.
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 0L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, kStallSeconds);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, kTotalSeconds);
  // Several threads may run requests; no SIGALRM-based DNS timeouts.
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);

  const CURLcode sent = curl_easy_perform(curl);
  ConditionalPutAnswer answer;
  if (sent != CURLE_OK) {
    const std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(sent);
    curl_off_t started_us = 0;
    curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &started_us);
    switch (sent) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_OPERATION_TIMEDOUT:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
        answer.outcome = ConditionalPutOutcome::kTransient;
        // Before the request started nothing can have been stored.
        answer.may_have_arrived = started_us > 0;
        answer.cause = "cannot reach the endpoint " + endpoint + " (" + detail + ")";
        return answer;
      default:
        return arrow::Status::IOError("cannot send the conditional PUT of ", object, " to ", endpoint, ": ",
                                      detail);
    }
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  const std::string code = ErrorCode(response);
  if (status >= 200 && status < 300) {
    answer.outcome = ConditionalPutOutcome::kCreated;
  } else if (status == 412) {
    answer.outcome = ConditionalPutOutcome::kExists;
  } else if (status == 409) {
    answer.outcome = ConditionalPutOutcome::kConflict;
    answer.cause = "another conditional write of " + object + " was in flight (" + HttpCause(status, code) + ")";
  } else if (status == 429 || status >= 500) {
    answer.outcome = ConditionalPutOutcome::kTransient;
    answer.may_have_arrived = true;
    answer.cause = endpoint + " answered " + HttpCause(status, code);
  } else if (status == 403) {
    return arrow::Status::IOError(
        "access denied writing ", object, " at ", endpoint, " (", HttpCause(status, code),
        "): the credentials were rejected or may not write to bucket '", target.bucket,
        "' (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)");
  } else if (status == 404 && code == "NoSuchBucket") {
    return arrow::Status::IOError("bucket '", target.bucket, "' does not exist at ", endpoint, " (",
                                  HttpCause(status, code), ")");
  } else if (status == 501) {
    return arrow::Status::NotImplemented("the store at ", endpoint, " does not support conditional writes (",
                                         HttpCause(status, code), "), which a Delta table's commits need");
  } else {
    return arrow::Status::IOError("the conditional PUT of ", object, " at ", endpoint, " failed: ",
                                  HttpCause(status, code));
  }
  return answer;
}

}  // namespace clickstream::sink
