// A User-Agent header read by uap-core's rules (regexes.yaml from npm `uap-core`, pinned in
// scripts/setup and compiled into the binary): the browser, OS and device families that every
// ua-parser port agrees on, plus the form factor our events record. The rules are data maintained
// upstream; the code only applies them as the uap-core specification says (first match wins, $N
// replacements, the `i` flag of device rules).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

namespace clickstream::useragent {

struct UserAgent {
  std::string browser = "Other";  // "Mobile Safari", "Chrome Mobile iOS", "Samsung Internet", …
  std::string os = "Other";       // "iOS", "Android", "Mac OS X", "Windows", …
  std::string device = "Other";   // the device family: "iPhone", "iPad", "Samsung SM-T510", "Spider", …
  std::string brand;              // "Apple", "Samsung", … (empty when the rules name none)
  std::string model;
  // What the event's `device` field holds: desktop, mobile, tablet or bot; empty when the agent does
  // not tell (an unknown device on an unknown OS).
  std::string form_factor;
};

class UserAgentParser {
 public:
  // Compiles rules in uap-core's regexes.yaml layout; Invalid names the rule that does not compile.
  static arrow::Result<std::unique_ptr<UserAgentParser>> FromRules(std::string_view yaml);
  // The rules this binary was built with (uap-core's version is kRulesVersion).
  static arrow::Result<std::unique_ptr<UserAgentParser>> Builtin();
  static std::string_view RulesVersion();

  ~UserAgentParser();
  UserAgent Parse(std::string_view user_agent) const;

 private:
  struct Rules;
  explicit UserAgentParser(std::unique_ptr<Rules> rules);
  std::unique_ptr<Rules> rules_;
};

// The form factor of a parsed agent (UserAgent::form_factor). uap-core names devices, not their
// kind, so this reads the kind off what it names: an iPad is a tablet, an iPhone or iPod a phone,
// a spider a bot; an Android agent is a phone when it carries the "Mobile" token, which Android's
// browsers send on phones and leave out on tablets (Android's documented convention); a phone OS
// means a phone, a desktop OS a desktop (a Mac too: iPadOS Safari sends a Mac's agent, and only
// the tracker's context can tell it apart), and any other named device a phone.
std::string FormFactorOf(const UserAgent& agent, std::string_view user_agent);

}  // namespace clickstream::useragent
