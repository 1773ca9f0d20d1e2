// The conditional PUT against a one-request HTTP server on loopback that records what it was sent
// and answers as S3 would: the request a Delta commit makes, and how each answer is read. The
// moto server of tests/e2e/test_delta_s3.py checks the signature itself.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "sink/parquet/s3_conditional_put.h"
#include "result_assertions.h"

namespace clickstream::sink {
namespace {

// Accepts one connection, reads one request (headers, then a Content-Length body, after a
// 100 Continue when asked for one, as S3 does), answers with `response` and closes.
class OneRequestServer {
 public:
  explicit OneRequestServer(std::string response) : response_(std::move(response)) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(listen(listener_, 1), 0);
    socklen_t length = sizeof(address);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneRequestServer() {
    shutdown(listener_, SHUT_RDWR);
    thread_.join();
    close(listener_);
  }

  int port() const { return port_; }
  // The request as received; valid once PutIfAbsent returned.
  const std::string& request() const { return request_; }

 private:
  void Serve() {
    const int connection = accept(listener_, nullptr, nullptr);
    if (connection < 0) return;
    char buffer[4096];
    size_t expected = std::string::npos;
    while (request_.size() < expected) {
      const ssize_t n = read(connection, buffer, sizeof(buffer));
      if (n <= 0) break;
      request_.append(buffer, static_cast<size_t>(n));
      const size_t end = request_.find("\r\n\r\n");
      if (end != std::string::npos && expected == std::string::npos) {
        const size_t at = request_.find("Content-Length: ");
        const size_t body = at == std::string::npos ? 0 : std::stoul(request_.substr(at + 16));
        expected = end + 4 + body;
        // libcurl asks before sending a PUT's body, and waits a second for an answer otherwise.
        if (request_.find("\r\nExpect: 100-continue\r\n") < end && request_.size() < expected) {
          static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
          (void)!write(connection, kContinue, sizeof(kContinue) - 1);
        }
      }
    }
    (void)!write(connection, response_.data(), response_.size());
    close(connection);
  }

  std::string response_;
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::string request_;
};

std::string Response(int status, const std::string& reason, const std::string& code = "") {
  const std::string body = code.empty() ? "" : "<Error><Code>" + code + "</Code><Message>m</Message></Error>";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

S3PutTarget Target(int port) {
  S3PutTarget target;
  target.scheme = "http";
  target.endpoint_override = "127.0.0.1:" + std::to_string(port);
  target.region = "eu-west-3";
  target.bucket = "landing";
  return target;
}

const S3Credentials kCredentials{"AKIDEXAMPLE", "secret", ""};

arrow::Result<ConditionalPutAnswer> Put(const OneRequestServer& server, const std::string& key = "t/_delta_log/0.json",
                                        const S3Credentials& credentials = kCredentials) {
  return PutIfAbsent(Target(server.port()), credentials, key, *arrow::Buffer::FromString("hello"));
}

TEST(S3ConditionalPut, SendsASignedPutIfAbsentWithThePayloadHash) {
  OneRequestServer server(Response(200, "OK"));
  ASSERT_OK_AND_ASSIGN(const auto answer, Put(server, "t/_delta_log/0.json", {"AKIDEXAMPLE", "secret", "token-1"}));
  EXPECT_EQ(answer.outcome, ConditionalPutOutcome::kCreated);
  const std::string& request = server.request();
  EXPECT_EQ(request.rfind("PUT /landing/t/_delta_log/0.json HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("\r\nIf-None-Match: *\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("\r\nContent-Type: application/octet-stream\r\n"), std::string::npos) << request;
  // SHA-256 of "hello".
  EXPECT_NE(request.find("\r\nx-amz-content-sha256: "
                         "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\r\n"),
            std::string::npos)
      << request;
  EXPECT_NE(request.find("\r\nx-amz-security-token: token-1\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), std::string::npos) << request;
  EXPECT_NE(request.find("/eu-west-3/s3/aws4_request"), std::string::npos) << request;
  // The condition and the hash are signed, so neither can be stripped on the way.
  const size_t signed_headers = request.find("SignedHeaders=");
  ASSERT_NE(signed_headers, std::string::npos) << request;
  const std::string names = request.substr(signed_headers, request.find(',', signed_headers) - signed_headers);
  EXPECT_NE(names.find("if-none-match"), std::string::npos) << names;
  EXPECT_NE(names.find("x-amz-content-sha256"), std::string::npos) << names;
  EXPECT_EQ(request.substr(request.size() - 5), "hello");
}

TEST(S3ConditionalPut, EncodesTheKeyForTheCanonicalPath) {
  OneRequestServer server(Response(200, "OK"));
  ASSERT_OK_AND_ASSIGN(const auto answer, Put(server, "my table/event_date=2015-06-01/part 1.parquet"));
  EXPECT_EQ(answer.outcome, ConditionalPutOutcome::kCreated);
  EXPECT_EQ(server.request().rfind("PUT /landing/my%20table/event_date%3D2015-06-01/part%201.parquet ", 0), 0u)
      << server.request();
}

TEST(S3ConditionalPut, ReadsTakenConflictingAndTransientAnswers) {
  {
    OneRequestServer server(Response(412, "Precondition Failed", "PreconditionFailed"));
    ASSERT_OK_AND_ASSIGN(const auto answer, Put(server));
    EXPECT_EQ(answer.outcome, ConditionalPutOutcome::kExists);
  }
  {
    OneRequestServer server(Response(409, "Conflict", "ConditionalRequestConflict"));
    ASSERT_OK_AND_ASSIGN(const auto answer, Put(server));
    EXPECT_EQ(answer.outcome, ConditionalPutOutcome::kConflict);
    EXPECT_NE(answer.cause.find("ConditionalRequestConflict"), std::string::npos) << answer.cause;
  }
  {
    OneRequestServer server(Response(503, "Slow Down", "SlowDown"));
    ASSERT_OK_AND_ASSIGN(const auto answer, Put(server));
    EXPECT_EQ(answer.outcome, ConditionalPutOutcome::kTransient);
    EXPECT_TRUE(answer.may_have_arrived);
  }
}

TEST(S3ConditionalPut, NamesTheCauseOfAFailureInOneLine) {
  {
    OneRequestServer server(Response(403, "Forbidden", "SignatureDoesNotMatch"));
    const auto answer = Put(server);
    ASSERT_FALSE(answer.ok());
    const std::string message = answer.status().message();
    EXPECT_NE(message.find("access denied writing s3://landing/t/_delta_log/0.json"), std::string::npos) << message;
    EXPECT_NE(message.find("HTTP 403 SignatureDoesNotMatch"), std::string::npos) << message;
    EXPECT_NE(message.find("AWS_ACCESS_KEY_ID"), std::string::npos) << message;
  }
  {
    OneRequestServer server(Response(404, "Not Found", "NoSuchBucket"));
    const auto answer = Put(server);
    ASSERT_FALSE(answer.ok());
    EXPECT_NE(answer.status().message().find("bucket 'landing' does not exist at http://127.0.0.1:"),
              std::string::npos)
        << answer.status().message();
  }
}

TEST(S3ConditionalPut, AnEndpointThatRefusesConnectionsIsTransientAndNeverReached) {
  int port = 0;
  {
    OneRequestServer closed(Response(200, "OK"));
    port = closed.port();
    // Served once (and closed): nothing listens on the port afterwards.
    ASSERT_OK_AND_ASSIGN(const auto answer, Put(closed));
    EXPECT_EQ(answer.outcome, ConditionalPutOutcome::kCreated);
  }
  const auto started = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(const auto answer,
                       PutIfAbsent(Target(port), kCredentials, "t/x.json", *arrow::Buffer::FromString("x")));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(answer.outcome, ConditionalPutOutcome::kTransient);
  EXPECT_FALSE(answer.may_have_arrived);
  EXPECT_NE(answer.cause.find("cannot reach the endpoint http://127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << answer.cause;
}

}  // namespace
}  // namespace clickstream::sink
