// The actions of a Delta Lake log and their JSON form (delta-io's PROTOCOL.md): what one commit
// file, `_delta_log/%020d.json`, holds, one action per line, and the snapshot that replaying the
// commits in version order gives. Only the actions of reader protocol 1 / writer protocol 2 are
// understood; anything else is refused by the reader rather than guessed at.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

namespace clickstream::sink::delta {

struct Protocol {
  int32_t min_reader_version = 1;
  int32_t min_writer_version = 2;
  // Only present from reader 3 / writer 7 on: the table features a reader or writer must support.
  std::vector<std::string> reader_features;
  std::vector<std::string> writer_features;
};

struct Metadata {
  std::string id;             // a GUID, fixed when the table is created
  std::string schema_string;  // the table's struct type, as a JSON document inside a string
  std::vector<std::string> partition_columns;
  std::map<std::string, std::string> configuration;
  std::optional<int64_t> created_time;  // ms since the epoch
};

// The exactly-once record of an application: for each app_id the latest version in the log wins.
struct Txn {
  std::string app_id;
  int64_t version = 0;
  std::optional<int64_t> last_updated;  // ms since the epoch
};

struct AddFile {
  std::string path;  // relative to the table root, percent-decoded here
  std::map<std::string, std::string> partition_values;
  int64_t size = 0;               // bytes
  int64_t modification_time = 0;  // ms since the epoch
  bool data_change = true;
  std::string stats;  // a JSON document inside a string; empty when the writer gave none
};

struct RemoveFile {
  std::string path;
  int64_t deletion_timestamp = 0;  // ms since the epoch
  bool data_change = true;
  std::map<std::string, std::string> partition_values;
  std::optional<int64_t> size;
};

// One commit file's actions. commit_info is free-form: written as given, read back as raw JSON.
struct Commit {
  std::optional<Protocol> protocol;
  std::optional<Metadata> metadata;
  std::vector<Txn> txns;
  std::vector<AddFile> adds;
  std::vector<RemoveFile> removes;
  std::string commit_info;  // a JSON object, or empty
};

// Newline-delimited JSON, one action per line: commitInfo, protocol, metaData, txn, then adds and
// removes (readers accept any order; this one puts the small actions first for people reading it).
std::string FormatCommit(const Commit& commit);

// Parses a commit file. Invalid, naming the line and the reason, for anything that is not a
// well-formed action of the protocol: bad JSON, a missing or mistyped required field, an action
// this reader does not know (deletion vectors, domain metadata, …).
arrow::Result<Commit> ParseCommit(std::string_view text);

// Percent-encoding of an add/remove path as the protocol asks (paths are URIs) and its inverse.
std::string EncodePath(std::string_view path);
arrow::Result<std::string> DecodePath(std::string_view path);

// The table as of one version: what a reader of that version sees.
struct Snapshot {
  int64_t version = -1;  // -1: no commit read yet
  std::optional<Protocol> protocol;
  std::optional<Metadata> metadata;
  std::map<std::string, Txn> txns;       // by app_id
  std::map<std::string, AddFile> files;  // by path: the data files of this version
  std::map<std::string, RemoveFile> tombstones;  // by path: removed, not added again

  // Applies the commit of version `version` (the next one) on top of this snapshot.
  void Apply(int64_t commit_version, Commit commit);
};

}  // namespace clickstream::sink::delta
