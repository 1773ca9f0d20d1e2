#include "event/fields.h"

namespace clickstream {

namespace {

std::string JoinHeaders(std::string_view EventFieldSpec::*header) {
  std::string joined;
  for (const EventFieldSpec& spec : kEventFields) {
    if ((spec.*header).empty()) continue;
    if (!joined.empty()) joined += ',';
    joined += spec.*header;
  }
  return joined;
}

}  // namespace

std::string GeneratorCsvHeader() { return JoinHeaders(&EventFieldSpec::csv_header); }

std::string RetailRocketCsvHeader() { return JoinHeaders(&EventFieldSpec::retail_rocket_header); }

}  // namespace clickstream
