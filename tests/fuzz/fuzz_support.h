// What the fuzz targets share: a check that stops the run with the broken property named (libFuzzer
// then keeps the input as a crash), and event comparison over the field table.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "event/event.h"
#include "event/fields.h"

namespace clickstream::fuzz {

[[noreturn]] inline void Fail(const char* property, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: property broken: %s\n", file, line, property);
  std::abort();
}

}  // namespace clickstream::fuzz

// Unlike assert(), also checked in release builds: the corpus replay runs under RelWithDebInfo.
#define FUZZ_CHECK(condition) \
  ((condition) ? static_cast<void>(0) : ::clickstream::fuzz::Fail(#condition, __FILE__, __LINE__))

namespace clickstream::fuzz {

// Every field of the table, so a field added there is compared here too.
inline bool SameEvent(const Event& a, const Event& b) {
  for (const EventFieldSpec& spec : kEventFields) {
    if (spec.text != nullptr && a.*spec.text != b.*spec.text) return false;
    if (spec.number != nullptr && a.*spec.number != b.*spec.number) return false;
  }
  return a.event_type == b.event_type;
}

}  // namespace clickstream::fuzz
