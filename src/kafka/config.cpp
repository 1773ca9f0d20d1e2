#include "kafka/config.h"
#include "kafka/handle.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/log.h"

namespace clickstream::kafka {

void ConfDeleter::operator()(rd_kafka_conf_s* conf) const { rd_kafka_conf_destroy(conf); }

std::string_view LibrdkafkaVersion() { return rd_kafka_version_str(); }

std::string ResolveBootstrapServers(const KafkaOptions& options) {
  if (!options.bootstrap_servers.empty()) return options.bootstrap_servers;
  const char* from_env = std::getenv("KAFKA_BOOTSTRAP_SERVERS");
  return from_env != nullptr && *from_env != '\0' ? from_env : "localhost:9092";
}

namespace {

std::string_view Trim(std::string_view text) {
  const auto blank = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);
  return text;
}

arrow::Status SetProperty(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char error[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error, sizeof(error)) != RD_KAFKA_CONF_OK) {
    const std::string shown = IsSecretProperty(key) ? "(hidden)" : value;
    return arrow::Status::Invalid("Kafka property ", key, "=", shown, ": ", error);
  }
  return arrow::Status::OK();
}

// librdkafka's levels are syslog's: 0-3 are errors, 4 a warning, 5-7 notices, info and debug.
LogLevel LevelOfSyslog(int level) {
  if (level <= 3) return LogLevel::kError;
  return level == 4 ? LogLevel::kWarning : LogLevel::kInfo;
}

// In the JSON format every stderr line must be JSON, librdkafka's own ("%3|1733337000.123|FAIL|
// rdkafka#consumer-1| ...") included. Called on librdkafka's threads; WriteLog is thread-safe.
void LogThroughLogger(const rd_kafka_t* handle, int level, const char* facility, const char* message) {
  Log(LevelOfSyslog(level), "kafka", message,
      {{"client", rd_kafka_name(handle)}, {"facility", facility}, {"syslog_level", level}});
}

}  // namespace

bool IsSecretProperty(std::string_view key) {
  std::string lower(key);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  // sasl.jaas.config and sasl.oauthbearer.config embed credentials; ssl.key.pem is a private key.
  static constexpr std::array<std::string_view, 5> kMarkers = {"password", "secret", "jaas", "oauthbearer.config",
                                                               "ssl.key.pem"};
  return std::any_of(kMarkers.begin(), kMarkers.end(),
                     [&](std::string_view marker) { return lower.find(marker) != std::string::npos; });
}

arrow::Result<std::vector<Property>> ParseProperties(std::string_view text, std::string_view origin) {
  std::vector<Property> properties;
  int line_number = 0;
  while (!text.empty()) {
    const size_t end = std::min(text.find('\n'), text.size());
    const std::string_view line = Trim(text.substr(0, end));
    text.remove_prefix(std::min(end + 1, text.size()));
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    const size_t equals = line.find('=');
    if (equals == std::string_view::npos || Trim(line.substr(0, equals)).empty()) {
      return arrow::Status::Invalid(origin, " line ", line_number, ": expected key=value");
    }
    properties.emplace_back(std::string(Trim(line.substr(0, equals))), std::string(Trim(line.substr(equals + 1))));
  }
  return properties;
}

arrow::Result<std::vector<Property>> ReadPropertiesFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return arrow::Status::Invalid("-F ", path, ": cannot open the properties file");
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return arrow::Status::Invalid("-F ", path, ": cannot read the properties file");
  return ParseProperties(text.str(), "-F " + path);
}

arrow::Result<ConfPtr> MakeConf(const KafkaOptions& options, const std::vector<Property>& defaults) {
  ConfPtr conf(rd_kafka_conf_new());
  // The human format keeps librdkafka's own line format, which users of its tools know.
  if (JsonLogs()) rd_kafka_conf_set_log_cb(conf.get(), &LogThroughLogger);
  ARROW_RETURN_NOT_OK(SetProperty(conf.get(), "bootstrap.servers", ResolveBootstrapServers(options)));
  for (const auto& [key, value] : defaults) ARROW_RETURN_NOT_OK(SetProperty(conf.get(), key, value));
  if (!options.properties_file.empty()) {
    ARROW_ASSIGN_OR_RAISE(const std::vector<Property> from_file, ReadPropertiesFile(options.properties_file));
    for (const auto& [key, value] : from_file) ARROW_RETURN_NOT_OK(SetProperty(conf.get(), key, value));
    // The file may name the cluster (Confluent Cloud's do); an explicit -b still wins over it.
    if (!options.bootstrap_servers.empty()) {
      ARROW_RETURN_NOT_OK(SetProperty(conf.get(), "bootstrap.servers", options.bootstrap_servers));
    }
  }
  for (const std::string& property : options.properties) {
    const size_t equals = property.find('=');
    if (equals == std::string::npos || equals == 0) {
      // Only the key part is echoed: what follows an '=' may be a password.
      return arrow::Status::Invalid("-X ", equals == 0 ? "(no key)" : property,
                                    ": expected key=value (e.g. -X linger.ms=20)");
    }
    ARROW_RETURN_NOT_OK(SetProperty(conf.get(), property.substr(0, equals), property.substr(equals + 1)));
  }
  return conf;
}

std::string ConfiguredBootstrapServers(const rd_kafka_conf_t* conf) {
  char value[1024];
  size_t size = sizeof(value);
  if (rd_kafka_conf_get(conf, "bootstrap.servers", value, &size) != RD_KAFKA_CONF_OK) return "";
  return value;
}

arrow::Result<HandlePtr> NewHandle(rd_kafka_type_t type, ConfPtr* conf, std::string_view role) {
  char error[512];
  HandlePtr handle(rd_kafka_new(type, conf->get(), error, sizeof(error)));
  if (handle == nullptr) return arrow::Status::Invalid("cannot create Kafka ", role, ": ", error);
  conf->release();
  return handle;
}

}  // namespace clickstream::kafka
