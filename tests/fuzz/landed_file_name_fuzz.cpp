// Target for the landed-file-name parser that recovery trusts (sink/parquet/landed_files.h): a name
// it accepts is exactly one FormatLandedFileName writes, so parsing then formatting gives the same
// name back, and its ranges are sound. The temp-name pair round-trips as well.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "sink/parquet/landed_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clickstream::sink;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (const std::optional<LandedFileName> name = ParseLandedFileName(text)) {
    FUZZ_CHECK(FormatLandedFileName(*name) == text);
    FUZZ_CHECK(name->partition >= 0 && name->first_offset >= 0 && name->first_offset <= name->last_offset);
    FUZZ_CHECK(name->part >= 1 && name->part <= name->parts);
    // Recovery skips temp files by this test: a landed name is never mistaken for one.
    FUZZ_CHECK(!FinalNameOfTemp(text).has_value());
  }
  const std::string temp = TempFileName(text);
  const std::optional<std::string_view> final_name = FinalNameOfTemp(temp);
  FUZZ_CHECK(final_name.has_value() && *final_name == text);
  return 0;
}
