#include "sink/parquet/landed_files.h"

#include <charconv>
#include <cstdio>
#include <system_error>
#include <vector>

#include "event/timestamp.h"

namespace clickstream::sink {

namespace {

constexpr std::string_view kDataPrefix = "clickstream_";
constexpr std::string_view kDataSuffix = ".parquet";
constexpr std::string_view kMarkerPrefix = "_clickstream_";
constexpr std::string_view kMarkerSuffix = ".skipped";
constexpr std::string_view kCompactedTag = "_compacted";
constexpr std::string_view kTempPrefix = ".";
constexpr std::string_view kTempSuffix = ".tmp";
constexpr size_t kWriteTimeChars = 19;  // YYYYMMDD_HHMMSS_mmm
constexpr std::string_view kDateDirectoryPrefix = "event_date=";

// Reads a decimal number at the front of *text and drops it from there: digits only, no leading
// zero, as std::to_string writes it. from_chars alone also takes "0999" and "-0", names no run
// writes, which would then parse as a file that formats to another name (found by fuzzing).
template <typename T>
bool ConsumeNumber(std::string_view* text, T* out) {
  if (text->empty() || (*text)[0] < '0' || (*text)[0] > '9') return false;
  if ((*text)[0] == '0' && text->size() > 1 && (*text)[1] >= '0' && (*text)[1] <= '9') return false;
  const char* end = text->data() + text->size();
  const auto [next, error] = std::from_chars(text->data(), end, *out);
  if (error != std::errc() || next == text->data()) return false;
  text->remove_prefix(static_cast<size_t>(next - text->data()));
  return true;
}

bool ConsumeLiteral(std::string_view* text, std::string_view literal) {
  if (!text->starts_with(literal)) return false;
  text->remove_prefix(literal.size());
  return true;
}

bool IsWriteTime(std::string_view text) {
  if (text.size() != kWriteTimeChars || text[8] != '_' || text[15] != '_') return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i != 8 && i != 15 && (text[i] < '0' || text[i] > '9')) return false;
  }
  return true;
}

}  // namespace

std::string FormatLandedFileName(const LandedFileName& name) {
  std::string out(name.kind == LandedFileKind::kMarker ? kMarkerPrefix : kDataPrefix);
  out += name.write_time;
  out += "_p" + std::to_string(name.partition);
  out += "_o" + std::to_string(name.first_offset) + "-" + std::to_string(name.last_offset);
  if (name.kind == LandedFileKind::kCompacted) {
    out += kCompactedTag;
  } else {
    out += "_" + std::to_string(name.part) + "of" + std::to_string(name.parts);
  }
  out += name.kind == LandedFileKind::kMarker ? kMarkerSuffix : kDataSuffix;
  return out;
}

std::optional<LandedFileName> ParseLandedFileName(std::string_view text) {
  LandedFileName name;
  if (ConsumeLiteral(&text, kMarkerPrefix)) {
    name.kind = LandedFileKind::kMarker;
    if (!text.ends_with(kMarkerSuffix)) return std::nullopt;
    text.remove_suffix(kMarkerSuffix.size());
  } else if (ConsumeLiteral(&text, kDataPrefix)) {
    name.kind = LandedFileKind::kData;
    if (!text.ends_with(kDataSuffix)) return std::nullopt;
    text.remove_suffix(kDataSuffix.size());
  } else {
    return std::nullopt;
  }
  if (text.size() < kWriteTimeChars || !IsWriteTime(text.substr(0, kWriteTimeChars))) return std::nullopt;
  name.write_time = std::string(text.substr(0, kWriteTimeChars));
  text.remove_prefix(kWriteTimeChars);
  bool parsed = ConsumeLiteral(&text, "_p") && ConsumeNumber(&text, &name.partition) &&
                ConsumeLiteral(&text, "_o") && ConsumeNumber(&text, &name.first_offset) &&
                ConsumeLiteral(&text, "-") && ConsumeNumber(&text, &name.last_offset);
  if (parsed && name.kind == LandedFileKind::kData && text == kCompactedTag) {
    name.kind = LandedFileKind::kCompacted;
  } else {
    parsed = parsed && ConsumeLiteral(&text, "_") && ConsumeNumber(&text, &name.part) &&
             ConsumeLiteral(&text, "of") && ConsumeNumber(&text, &name.parts) && text.empty();
  }
  if (!parsed || name.partition < 0 || name.first_offset < 0 || name.last_offset < name.first_offset ||
      name.part < 1 || name.part > name.parts) {
    return std::nullopt;
  }
  return name;
}

std::string TempFileName(std::string_view final_name) {
  std::string out(kTempPrefix);
  out += final_name;
  out += kTempSuffix;
  return out;
}

std::optional<std::string_view> FinalNameOfTemp(std::string_view temp_name) {
  if (!temp_name.starts_with(kTempPrefix) || !temp_name.ends_with(kTempSuffix)) return std::nullopt;
  temp_name.remove_prefix(kTempPrefix.size());
  temp_name.remove_suffix(kTempSuffix.size());
  return temp_name;
}

std::string EventDateDirectory(int32_t days_since_epoch) {
  const CivilDate date = CivilFromDays(days_since_epoch);
  char text[32];
  std::snprintf(text, sizeof(text), "%04d-%02u-%02u", date.year, date.month, date.day);
  return std::string(kDateDirectoryPrefix) + text;
}

bool IsEventDateDirectory(std::string_view name) { return name.starts_with(kDateDirectoryPrefix); }

std::string_view BaseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

namespace {

struct FoundFile {
  std::string path;  // relative to the dataset's root
  LandedFileName name;
  bool temp = false;
};

arrow::Status Remove(DatasetStore* store, const std::string& path, PartitionRecovery* recovery) {
  ARROW_RETURN_NOT_OK(store->Remove(path));
  ++recovery->removed_files;
  return arrow::Status::OK();
}

// `files` are one partition's landed files (no temp files).
arrow::Status RecoverOne(DatasetStore* store, const std::vector<const FoundFile*>& files,
                         PartitionRecovery* recovery) {
  std::vector<std::pair<std::string, LandedFileName>> named;
  named.reserve(files.size());
  for (const FoundFile* file : files) named.emplace_back(file->path, file->name);
  const LandedBatches batches = GroupLandedBatches(named);
  if (batches.empty()) return arrow::Status::OK();
  // Batches of a partition are written one after the other, so only the newest can be
  // incomplete; should an older one be, everything from it on is redone rather than lost.
  std::optional<int64_t> resume;
  for (const auto& [range, batch] : batches) {
    if (!batch.complete() && (!resume || range.first < *resume)) resume = range.first;
  }
  if (!resume) resume = batches.rbegin()->first.second + 1;
  int64_t newest_kept_last = -1;
  for (const auto& [range, batch] : batches) {
    if (range.first >= *resume) {
      for (const std::string& path : batch.paths) ARROW_RETURN_NOT_OK(Remove(store, path, recovery));
    } else {
      newest_kept_last = std::max(newest_kept_last, range.second);
    }
  }
  // A marker only matters while it is the newest record of progress.
  for (const auto& [range, batch] : batches) {
    if (batch.marker && range.first < *resume && range.second < newest_kept_last) {
      for (const std::string& path : batch.paths) ARROW_RETURN_NOT_OK(Remove(store, path, recovery));
    }
  }
  for (const auto& [range, batch] : batches) {
    if (batch.marker && range.first < *resume && range.second == newest_kept_last) {
      recovery->newest_marker = batch.paths.front();
    }
  }
  recovery->resume_offset = resume;
  return arrow::Status::OK();
}

}  // namespace

LandedBatches GroupLandedBatches(const std::vector<std::pair<std::string, LandedFileName>>& files) {
  LandedBatches batches;
  std::vector<std::pair<int64_t, int64_t>> compacted_ranges;
  for (const auto& [path, name] : files) {
    LandedBatchFiles& batch = batches[{name.first_offset, name.last_offset}];
    batch.paths.push_back(path);
    if (name.kind == LandedFileKind::kCompacted) {
      batch.compacted = true;
      compacted_ranges.emplace_back(name.first_offset, name.last_offset);
      continue;
    }
    batch.parts = name.parts;
    batch.present.insert(name.part);
    batch.marker = batch.marker || name.kind == LandedFileKind::kMarker;
  }
  for (auto& [range, batch] : batches) {
    for (const auto& [first, last] : compacted_ranges) {
      if (first <= range.first && range.second <= last) batch.compacted = true;
    }
  }
  return batches;
}

arrow::Result<std::map<int32_t, PartitionRecovery>> RecoverPartitions(DatasetStore* store,
                                                                     const std::set<int32_t>& partitions) {
  std::map<int32_t, PartitionRecovery> recoveries;
  for (int32_t partition : partitions) recoveries[partition] = PartitionRecovery{};
  ARROW_ASSIGN_OR_RAISE(const std::vector<StoredFile> stored, store->List());
  std::vector<FoundFile> found;
  for (const StoredFile& file : stored) {
    const std::string_view base = BaseName(file.path);
    const auto temp_of = FinalNameOfTemp(base);
    const auto name = ParseLandedFileName(temp_of ? *temp_of : base);
    if (!name || partitions.count(name->partition) == 0) continue;
    found.push_back(FoundFile{file.path, *name, temp_of.has_value()});
  }
  std::map<int32_t, std::vector<const FoundFile*>> by_partition;
  for (const FoundFile& file : found) {
    if (file.temp) {
      ARROW_RETURN_NOT_OK(Remove(store, file.path, &recoveries[file.name.partition]));
    } else {
      by_partition[file.name.partition].push_back(&file);
    }
  }
  for (const auto& [partition, files] : by_partition) {
    ARROW_RETURN_NOT_OK(RecoverOne(store, files, &recoveries[partition]));
  }
  return recoveries;
}

}  // namespace clickstream::sink
