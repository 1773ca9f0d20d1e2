// Target for the Delta log reader (sink/delta/delta_log.h), which recovery trusts with the txn
// versions: any bytes either parse as commit actions or are refused with an Invalid status, and the
// actions that parse are a fixed point of writing them out again (FormatCommit then ParseCommit
// gives the same text), so nothing read from another writer's commit is changed by passing through
// ours.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "sink/delta/delta_log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clickstream::sink::delta;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto commit = ParseCommit(text);
  if (!commit.ok()) {
    FUZZ_CHECK(commit.status().IsInvalid());
    return 0;
  }
  // commitInfo is free-form, only read for this writer's own token (a string) and never written
  // back, and RapidJSON reads doubles to within a last digit: the fixed point is asked of every
  // other action.
  Commit actions = *commit;
  actions.commit_info.clear();
  const std::string written = FormatCommit(actions);
  const auto again = ParseCommit(written);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(FormatCommit(*again) == written);
  FUZZ_CHECK(again->txns.size() == commit->txns.size() && again->adds.size() == commit->adds.size() &&
             again->removes.size() == commit->removes.size());
  for (size_t i = 0; i < commit->adds.size(); ++i) {
    FUZZ_CHECK(again->adds[i].path == commit->adds[i].path);
    FUZZ_CHECK(again->adds[i].stats == commit->adds[i].stats);
  }
  for (const AddFile& add : commit->adds) {
    const auto decoded = DecodePath(EncodePath(add.path));
    FUZZ_CHECK(decoded.ok() && *decoded == add.path);
  }
  return 0;
}
