#include "sink/delta/delta_log.h"

#include <cctype>
#include <utility>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace clickstream::sink::delta {

namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteString(JsonWriter& writer, std::string_view text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void WriteStringMap(JsonWriter& writer, const std::map<std::string, std::string>& values) {
  writer.StartObject();
  for (const auto& [key, value] : values) {
    WriteString(writer, key);
    WriteString(writer, value);
  }
  writer.EndObject();
}

void WriteStringList(JsonWriter& writer, const std::vector<std::string>& values) {
  writer.StartArray();
  for (const std::string& value : values) WriteString(writer, value);
  writer.EndArray();
}

// Writes one action, `{"<kind>": {...}}`, as a line of its own.
template <typename Body>
void WriteAction(std::string* out, std::string_view kind, Body&& body) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  WriteString(writer, kind);
  writer.StartObject();
  body(writer);
  writer.EndObject();
  writer.EndObject();
  out->append(buffer.GetString(), buffer.GetSize());
  out->push_back('\n');
}

void WriteProtocol(JsonWriter& writer, const Protocol& protocol) {
  writer.Key("minReaderVersion");
  writer.Int(protocol.min_reader_version);
  writer.Key("minWriterVersion");
  writer.Int(protocol.min_writer_version);
  if (!protocol.reader_features.empty()) {
    writer.Key("readerFeatures");
    WriteStringList(writer, protocol.reader_features);
  }
  if (!protocol.writer_features.empty()) {
    writer.Key("writerFeatures");
    WriteStringList(writer, protocol.writer_features);
  }
}

void WriteMetadata(JsonWriter& writer, const Metadata& metadata) {
  writer.Key("id");
  WriteString(writer, metadata.id);
  writer.Key("format");
  writer.StartObject();
  writer.Key("provider");
  writer.String("parquet");
  writer.Key("options");
  writer.StartObject();
  writer.EndObject();
  writer.EndObject();
  writer.Key("schemaString");
  WriteString(writer, metadata.schema_string);
  writer.Key("partitionColumns");
  WriteStringList(writer, metadata.partition_columns);
  writer.Key("configuration");
  WriteStringMap(writer, metadata.configuration);
  if (metadata.created_time) {
    writer.Key("createdTime");
    writer.Int64(*metadata.created_time);
  }
}

// --- reading ---

class ActionReader {
 public:
  ActionReader(const rapidjson::Value& object, std::string_view kind, size_t line)
      : object_(object), kind_(kind), line_(line) {}

  arrow::Status Error(std::string_view what) const {
    return arrow::Status::Invalid("line ", line_, ": ", kind_, " ", what);
  }

  const rapidjson::Value* Find(const char* name) const {
    auto member = object_.FindMember(name);
    if (member == object_.MemberEnd() || member->value.IsNull()) return nullptr;
    return &member->value;
  }

  arrow::Result<std::string> String(const char* name) const {
    const rapidjson::Value* value = Find(name);
    if (value == nullptr || !value->IsString()) return Error(std::string("has no string \"") + name + "\"");
    return std::string(value->GetString(), value->GetStringLength());
  }
  arrow::Result<std::string> OptionalString(const char* name) const {
    const rapidjson::Value* value = Find(name);
    if (value == nullptr) return std::string();
    if (!value->IsString()) return Error(std::string("has a \"") + name + "\" that is not a string");
    return std::string(value->GetString(), value->GetStringLength());
  }
  arrow::Result<int64_t> Integer(const char* name) const {
    const rapidjson::Value* value = Find(name);
    if (value == nullptr || !value->IsInt64()) return Error(std::string("has no integer \"") + name + "\"");
    return value->GetInt64();
  }
  arrow::Result<std::optional<int64_t>> OptionalInteger(const char* name) const {
    const rapidjson::Value* value = Find(name);
    if (value == nullptr) return std::optional<int64_t>();
    if (!value->IsInt64()) return Error(std::string("has a \"") + name + "\" that is not an integer");
    return std::optional<int64_t>(value->GetInt64());
  }
  arrow::Result<bool> Bool(const char* name) const {
    const rapidjson::Value* value = Find(name);
    if (value == nullptr || !value->IsBool()) return Error(std::string("has no boolean \"") + name + "\"");
    return value->GetBool();
  }
  // A map of strings; a null value in it (allowed for partition values) reads as an empty string
  // only where the caller accepts that, so it is reported instead.
  arrow::Result<std::map<std::string, std::string>> StringMap(const char* name, bool required) const {
    std::map<std::string, std::string> values;
    const rapidjson::Value* value = Find(name);
    if (value == nullptr) {
      if (required) return Error(std::string("has no \"") + name + "\"");
      return values;
    }
    if (!value->IsObject()) return Error(std::string("has a \"") + name + "\" that is not an object");
    for (auto member = value->MemberBegin(); member != value->MemberEnd(); ++member) {
      if (!member->value.IsString()) {
        return Error(std::string("has a non-string value in \"") + name + "\"");
      }
      values.emplace(std::string(member->name.GetString(), member->name.GetStringLength()),
                     std::string(member->value.GetString(), member->value.GetStringLength()));
    }
    return values;
  }
  arrow::Result<std::vector<std::string>> StringList(const char* name, bool required) const {
    std::vector<std::string> values;
    const rapidjson::Value* value = Find(name);
    if (value == nullptr) {
      if (required) return Error(std::string("has no \"") + name + "\"");
      return values;
    }
    if (!value->IsArray()) return Error(std::string("has a \"") + name + "\" that is not a list");
    for (const auto& item : value->GetArray()) {
      if (!item.IsString()) return Error(std::string("has a non-string entry in \"") + name + "\"");
      values.emplace_back(item.GetString(), item.GetStringLength());
    }
    return values;
  }

 private:
  const rapidjson::Value& object_;
  std::string_view kind_;
  size_t line_;
};

arrow::Result<Protocol> ReadProtocol(const ActionReader& reader) {
  Protocol protocol;
  ARROW_ASSIGN_OR_RAISE(const int64_t reader_version, reader.Integer("minReaderVersion"));
  ARROW_ASSIGN_OR_RAISE(const int64_t writer_version, reader.Integer("minWriterVersion"));
  protocol.min_reader_version = static_cast<int32_t>(reader_version);
  protocol.min_writer_version = static_cast<int32_t>(writer_version);
  ARROW_ASSIGN_OR_RAISE(protocol.reader_features, reader.StringList("readerFeatures", false));
  ARROW_ASSIGN_OR_RAISE(protocol.writer_features, reader.StringList("writerFeatures", false));
  return protocol;
}

arrow::Result<Metadata> ReadMetadata(const ActionReader& reader) {
  Metadata metadata;
  ARROW_ASSIGN_OR_RAISE(metadata.id, reader.String("id"));
  ARROW_ASSIGN_OR_RAISE(metadata.schema_string, reader.String("schemaString"));
  ARROW_ASSIGN_OR_RAISE(metadata.partition_columns, reader.StringList("partitionColumns", true));
  ARROW_ASSIGN_OR_RAISE(metadata.configuration, reader.StringMap("configuration", false));
  ARROW_ASSIGN_OR_RAISE(metadata.created_time, reader.OptionalInteger("createdTime"));
  const rapidjson::Value* format = reader.Find("format");
  if (format == nullptr || !format->IsObject()) return reader.Error("has no \"format\"");
  auto provider = format->FindMember("provider");
  if (provider == format->MemberEnd() || !provider->value.IsString() ||
      std::string_view(provider->value.GetString()) != "parquet") {
    return reader.Error("names a data format other than parquet");
  }
  return metadata;
}

arrow::Result<Txn> ReadTxn(const ActionReader& reader) {
  Txn txn;
  ARROW_ASSIGN_OR_RAISE(txn.app_id, reader.String("appId"));
  ARROW_ASSIGN_OR_RAISE(txn.version, reader.Integer("version"));
  ARROW_ASSIGN_OR_RAISE(txn.last_updated, reader.OptionalInteger("lastUpdated"));
  return txn;
}

arrow::Result<AddFile> ReadAdd(const ActionReader& reader) {
  AddFile add;
  ARROW_ASSIGN_OR_RAISE(const std::string path, reader.String("path"));
  ARROW_ASSIGN_OR_RAISE(add.path, DecodePath(path));
  ARROW_ASSIGN_OR_RAISE(add.partition_values, reader.StringMap("partitionValues", true));
  ARROW_ASSIGN_OR_RAISE(add.size, reader.Integer("size"));
  ARROW_ASSIGN_OR_RAISE(add.modification_time, reader.Integer("modificationTime"));
  ARROW_ASSIGN_OR_RAISE(add.data_change, reader.Bool("dataChange"));
  ARROW_ASSIGN_OR_RAISE(add.stats, reader.OptionalString("stats"));
  // A deletion vector hides rows of the file: a reader that ignored it would count them.
  if (reader.Find("deletionVector") != nullptr) return reader.Error("has a deletion vector");
  return add;
}

arrow::Result<RemoveFile> ReadRemove(const ActionReader& reader) {
  RemoveFile remove;
  ARROW_ASSIGN_OR_RAISE(const std::string path, reader.String("path"));
  ARROW_ASSIGN_OR_RAISE(remove.path, DecodePath(path));
  ARROW_ASSIGN_OR_RAISE(auto deletion, reader.OptionalInteger("deletionTimestamp"));
  remove.deletion_timestamp = deletion.value_or(0);
  ARROW_ASSIGN_OR_RAISE(remove.data_change, reader.Bool("dataChange"));
  ARROW_ASSIGN_OR_RAISE(remove.partition_values, reader.StringMap("partitionValues", false));
  ARROW_ASSIGN_OR_RAISE(remove.size, reader.OptionalInteger("size"));
  if (reader.Find("deletionVector") != nullptr) return reader.Error("has a deletion vector");
  return remove;
}

arrow::Status ReadAction(const rapidjson::Value& action, size_t line, Commit* commit) {
  if (!action.IsObject() || action.MemberCount() != 1) {
    return arrow::Status::Invalid("line ", line, ": an action must be an object with exactly one key");
  }
  const auto& member = *action.MemberBegin();
  const std::string_view kind(member.name.GetString(), member.name.GetStringLength());
  if (kind == "commitInfo") {
    rapidjson::StringBuffer buffer;
    JsonWriter writer(buffer);
    member.value.Accept(writer);
    commit->commit_info.assign(buffer.GetString(), buffer.GetSize());
    return arrow::Status::OK();
  }
  if (!member.value.IsObject()) return arrow::Status::Invalid("line ", line, ": ", kind, " is not an object");
  const ActionReader reader(member.value, kind, line);
  if (kind == "protocol") {
    ARROW_ASSIGN_OR_RAISE(commit->protocol, ReadProtocol(reader));
  } else if (kind == "metaData") {
    ARROW_ASSIGN_OR_RAISE(commit->metadata, ReadMetadata(reader));
  } else if (kind == "txn") {
    ARROW_ASSIGN_OR_RAISE(auto txn, ReadTxn(reader));
    commit->txns.push_back(std::move(txn));
  } else if (kind == "add") {
    ARROW_ASSIGN_OR_RAISE(auto add, ReadAdd(reader));
    commit->adds.push_back(std::move(add));
  } else if (kind == "remove") {
    ARROW_ASSIGN_OR_RAISE(auto remove, ReadRemove(reader));
    commit->removes.push_back(std::move(remove));
  } else if (kind == "cdc") {
    // Change-data files are for change-feed readers only; a snapshot never includes them.
  } else {
    return arrow::Status::Invalid("line ", line, ": unknown action \"", kind, "\"");
  }
  return arrow::Status::OK();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string FormatCommit(const Commit& commit) {
  std::string out;
  if (!commit.commit_info.empty()) {
    out.append("{\"commitInfo\":").append(commit.commit_info).append("}\n");
  }
  if (commit.protocol) {
    WriteAction(&out, "protocol", [&](JsonWriter& writer) { WriteProtocol(writer, *commit.protocol); });
  }
  if (commit.metadata) {
    WriteAction(&out, "metaData", [&](JsonWriter& writer) { WriteMetadata(writer, *commit.metadata); });
  }
  for (const Txn& txn : commit.txns) {
    WriteAction(&out, "txn", [&](JsonWriter& writer) {
      writer.Key("appId");
      WriteString(writer, txn.app_id);
      writer.Key("version");
      writer.Int64(txn.version);
      if (txn.last_updated) {
        writer.Key("lastUpdated");
        writer.Int64(*txn.last_updated);
      }
    });
  }
  for (const AddFile& add : commit.adds) {
    WriteAction(&out, "add", [&](JsonWriter& writer) {
      writer.Key("path");
      WriteString(writer, EncodePath(add.path));
      writer.Key("partitionValues");
      WriteStringMap(writer, add.partition_values);
      writer.Key("size");
      writer.Int64(add.size);
      writer.Key("modificationTime");
      writer.Int64(add.modification_time);
      writer.Key("dataChange");
      writer.Bool(add.data_change);
      if (!add.stats.empty()) {
        writer.Key("stats");
        WriteString(writer, add.stats);
      }
    });
  }
  for (const RemoveFile& remove : commit.removes) {
    WriteAction(&out, "remove", [&](JsonWriter& writer) {
      writer.Key("path");
      WriteString(writer, EncodePath(remove.path));
      writer.Key("deletionTimestamp");
      writer.Int64(remove.deletion_timestamp);
      writer.Key("dataChange");
      writer.Bool(remove.data_change);
      writer.Key("extendedFileMetadata");
      writer.Bool(remove.size.has_value());
      writer.Key("partitionValues");
      WriteStringMap(writer, remove.partition_values);
      if (remove.size) {
        writer.Key("size");
        writer.Int64(*remove.size);
      }
    });
  }
  return out;
}

arrow::Result<Commit> ParseCommit(std::string_view text) {
  Commit commit;
  size_t line_number = 0;
  size_t start = 0;
  rapidjson::Document document;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    ++line_number;
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    // The default precision: RapidJSON 1.1.0's full-precision path passes zero to clz() on input such
    // as "0e-33" (found by fuzzing). Integers, the only numbers the protocol's actions hold, parse
    // exactly either way; only commitInfo's free-form doubles may come back a last digit off.
    document.Parse(line.data(), line.size());
    if (document.HasParseError()) {
      return arrow::Status::Invalid("line ", line_number, " is not valid JSON: ",
                                    rapidjson::GetParseError_En(document.GetParseError()), " at offset ",
                                    document.GetErrorOffset());
    }
    ARROW_RETURN_NOT_OK(ReadAction(document, line_number, &commit));
  }
  return commit;
}

std::string EncodePath(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(path.size());
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    // Unreserved characters, the path separator and '=' (Hive partition directories) stay as they
    // are, as Spark and delta-rs write them.
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' || c == '=') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xF]);
    }
  }
  return out;
}

arrow::Result<std::string> DecodePath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') {
      out.push_back(path[i]);
      continue;
    }
    const int high = i + 2 < path.size() ? HexValue(path[i + 1]) : -1;
    const int low = i + 2 < path.size() ? HexValue(path[i + 2]) : -1;
    if (high < 0 || low < 0) return arrow::Status::Invalid("path \"", path, "\" has a malformed percent escape");
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

void Snapshot::Apply(int64_t commit_version, Commit commit) {
  version = commit_version;
  if (commit.protocol) protocol = std::move(commit.protocol);
  if (commit.metadata) metadata = std::move(commit.metadata);
  for (Txn& txn : commit.txns) {
    std::string app_id = txn.app_id;
    txns[app_id] = std::move(txn);
  }
  // Removes first: a commit that removes and adds the same path (a rewrite) keeps the add.
  for (RemoveFile& remove : commit.removes) {
    files.erase(remove.path);
    std::string path = remove.path;
    tombstones[path] = std::move(remove);
  }
  for (AddFile& add : commit.adds) {
    tombstones.erase(add.path);
    std::string path = add.path;
    files[path] = std::move(add);
  }
}

}  // namespace clickstream::sink::delta
