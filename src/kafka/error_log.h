// Which of a client's error reports get a line on stderr. librdkafka reports a non-fatal error again
// on every reconnect attempt (reconnect.backoff.ms starts at 100 ms), so a broker that stays down for
// a minute would print dozens of identical lines. One line per error code per interval, carrying how
// many of the same were held back, says the same in a few. A pure decision over (code, time), so it
// is tested without a broker or a clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>

namespace clickstream::kafka {

class ErrorLogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ErrorLogLimiter(std::chrono::milliseconds interval) : interval_(interval) {}

  // An error with librdkafka's `code` was reported at `now`. When it gets a line: how many reports of
  // the same code were held back since that code's last line (0 for the first). nullopt: hold it
  // back, the code had a line less than `interval` ago.
  std::optional<int64_t> Admit(int code, Clock::time_point now);

 private:
  struct CodeState {
    Clock::time_point last_line;
    int64_t held_back = 0;
  };

  std::chrono::milliseconds interval_;
  std::map<int, CodeState> codes_;
};

}  // namespace clickstream::kafka
