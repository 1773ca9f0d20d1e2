#include "useragent/user_agent_parser.h"

#include <algorithm>
#include <array>
#include <optional>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <yaml-cpp/yaml.h>

namespace clickstream::useragent {

// Generated at configure time from the pinned regexes.yaml (CMakeLists.txt, "uap-core").
extern const unsigned char kBuiltinRules[];  // NUL-terminated
extern const char kBuiltinRulesVersion[];

namespace {

constexpr int kMaxGroups = 9;  // uap-core's replacements name $1 to $9

struct CodeFree {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
struct MatchDataFree {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};
using Pattern = std::unique_ptr<pcre2_code, CodeFree>;

// One rule: its compiled pattern and the replacements it carries (empty: take the group).
struct Rule {
  Pattern pattern;
  std::array<std::optional<std::string>, 3> replacements;  // family, and brand and model for devices
};

// The groups of the first match, $1..$9; a group that did not take part is empty.
struct Match {
  std::array<std::string, kMaxGroups + 1> groups;
};

using MatchData = std::unique_ptr<pcre2_match_data, MatchDataFree>;

// `data` is one block of match data for every rule, sized for the rule with the most groups.
std::optional<Match> FirstMatch(const pcre2_code* pattern, std::string_view text, pcre2_match_data* data) {
  const int found = pcre2_match(pattern, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, data, nullptr);
  if (found <= 0) return std::nullopt;  // no match, or a match limit hit: the rule does not apply
  const PCRE2_SIZE* offsets = pcre2_get_ovector_pointer(data);
  // Groups past the highest one that took part are not set by this match: `found` bounds them.
  const int groups = std::min(found - 1, kMaxGroups);
  Match match;
  for (int i = 1; i <= groups; ++i) {
    if (offsets[2 * i] == PCRE2_UNSET) continue;
    match.groups[i] = std::string(text.substr(offsets[2 * i], offsets[2 * i + 1] - offsets[2 * i]));
  }
  return match;
}

arrow::Result<Pattern> Compile(const std::string& regex, bool caseless) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  Pattern pattern(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(regex.data()), regex.size(),
                                caseless ? PCRE2_CASELESS : 0, &error, &offset, nullptr));
  if (!pattern) {
    std::array<PCRE2_UCHAR, 256> message{};
    pcre2_get_error_message(error, message.data(), message.size());
    return arrow::Status::Invalid("'", regex, "' does not compile at offset ", offset, ": ",
                                  reinterpret_cast<const char*>(message.data()));
  }
  // JIT-compiled, a rule runs several times faster; without JIT support it still runs, interpreted.
  (void)pcre2_jit_compile(pattern.get(), PCRE2_JIT_COMPLETE);
  return pattern;
}

// "$1 for ArcGIS" with $N from the match, trimmed as uap-core specifies.
std::string Substitute(const std::string& replacement, const Match& match) {
  std::string out;
  for (size_t i = 0; i < replacement.size(); ++i) {
    if (replacement[i] == '$' && i + 1 < replacement.size() && replacement[i + 1] >= '1' &&
        replacement[i + 1] <= '9') {
      out += match.groups[replacement[i + 1] - '0'];
      ++i;
    } else {
      out += replacement[i];
    }
  }
  const size_t first = out.find_first_not_of(' ');
  if (first == std::string::npos) return "";
  return out.substr(first, out.find_last_not_of(' ') - first + 1);
}

// A field of a match: the replacement when the rule has one, else group `group`.
std::string Field(const Rule& rule, size_t which, const Match& match, int group) {
  if (rule.replacements[which]) return Substitute(*rule.replacements[which], match);
  return group > 0 ? match.groups[group] : "";
}

arrow::Result<std::vector<Rule>> CompileSection(const YAML::Node& root, const char* section,
                                                std::array<const char*, 3> replacement_keys) {
  const YAML::Node list = root[section];
  if (!list || !list.IsSequence()) return arrow::Status::Invalid("user-agent rules: no '", section, "' list");
  std::vector<Rule> rules;
  rules.reserve(list.size());
  for (const YAML::Node& entry : list) {
    const std::string regex = entry["regex"].as<std::string>("");
    const bool caseless = entry["regex_flag"] && entry["regex_flag"].as<std::string>("") == "i";
    Rule rule;
    auto pattern = Compile(regex, caseless);
    if (!pattern.ok()) return arrow::Status::Invalid("user-agent rules: ", section, " rule ", pattern.status().message());
    rule.pattern = std::move(*pattern);
    for (size_t i = 0; i < replacement_keys.size(); ++i) {
      if (replacement_keys[i] != nullptr && entry[replacement_keys[i]]) {
        rule.replacements[i] = entry[replacement_keys[i]].as<std::string>();
      }
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

bool Contains(std::string_view text, std::string_view token) { return text.find(token) != std::string_view::npos; }

}  // namespace

struct UserAgentParser::Rules {
  std::vector<Rule> browsers;
  std::vector<Rule> systems;
  std::vector<Rule> devices;
  uint32_t most_groups = 0;  // of any rule: what one match-data block must hold
};

UserAgentParser::UserAgentParser(std::unique_ptr<Rules> rules) : rules_(std::move(rules)) {}
UserAgentParser::~UserAgentParser() = default;

arrow::Result<std::unique_ptr<UserAgentParser>> UserAgentParser::FromRules(std::string_view yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& error) {
    return arrow::Status::Invalid("user-agent rules are not YAML: ", error.what());
  }
  auto rules = std::make_unique<Rules>();
  ARROW_ASSIGN_OR_RAISE(rules->browsers, CompileSection(root, "user_agent_parsers", {"family_replacement"}));
  ARROW_ASSIGN_OR_RAISE(rules->systems, CompileSection(root, "os_parsers", {"os_replacement"}));
  ARROW_ASSIGN_OR_RAISE(rules->devices, CompileSection(root, "device_parsers",
                                                       {"device_replacement", "brand_replacement",
                                                        "model_replacement"}));
  for (const auto* section : {&rules->browsers, &rules->systems, &rules->devices}) {
    for (const Rule& rule : *section) {
      uint32_t groups = 0;
      pcre2_pattern_info(rule.pattern.get(), PCRE2_INFO_CAPTURECOUNT, &groups);
      rules->most_groups = std::max(rules->most_groups, groups);
    }
  }
  return std::unique_ptr<UserAgentParser>(new UserAgentParser(std::move(rules)));
}

arrow::Result<std::unique_ptr<UserAgentParser>> UserAgentParser::Builtin() {
  return FromRules(reinterpret_cast<const char*>(kBuiltinRules));
}

std::string_view UserAgentParser::RulesVersion() { return kBuiltinRulesVersion; }

UserAgent UserAgentParser::Parse(std::string_view user_agent) const {
  UserAgent agent;
  const MatchData data(pcre2_match_data_create(rules_->most_groups + 1, nullptr));
  if (!data) return agent;
  for (const Rule& rule : rules_->browsers) {
    if (auto match = FirstMatch(rule.pattern.get(), user_agent, data.get())) {
      agent.browser = Field(rule, 0, *match, 1);
      break;
    }
  }
  for (const Rule& rule : rules_->systems) {
    if (auto match = FirstMatch(rule.pattern.get(), user_agent, data.get())) {
      agent.os = Field(rule, 0, *match, 1);
      break;
    }
  }
  for (const Rule& rule : rules_->devices) {
    if (auto match = FirstMatch(rule.pattern.get(), user_agent, data.get())) {
      agent.device = Field(rule, 0, *match, 1);
      agent.brand = Field(rule, 1, *match, 0);
      // Without a model replacement the model is the device's first group, as the spec says.
      agent.model = rule.replacements[2] ? Field(rule, 2, *match, 0) : match->groups[1];
      break;
    }
  }
  if (agent.browser.empty()) agent.browser = "Other";
  if (agent.os.empty()) agent.os = "Other";
  if (agent.device.empty()) agent.device = "Other";
  agent.form_factor = FormFactorOf(agent, user_agent);
  return agent;
}

std::string FormFactorOf(const UserAgent& agent, std::string_view user_agent) {
  if (agent.device == "Spider") return "bot";
  if (agent.device == "iPad" || agent.model.starts_with("iPad")) return "tablet";
  if (agent.device == "iPhone" || agent.device == "iPod" || agent.model.starts_with("iPhone")) return "mobile";
  if (agent.os == "Android") return Contains(user_agent, "Mobile") ? "mobile" : "tablet";
  static constexpr std::array<std::string_view, 4> kPhoneSystems{"iOS", "Windows Phone", "BlackBerry OS", "KaiOS"};
  for (std::string_view system : kPhoneSystems) {
    if (agent.os == system) return "mobile";
  }
  static constexpr std::array<std::string_view, 6> kDesktopSystems{"Windows", "Mac OS X", "Linux",
                                                                    "Ubuntu", "Chrome OS", "Fedora"};
  for (std::string_view system : kDesktopSystems) {
    if (agent.os == system) return "desktop";
  }
  return agent.device != "Other" ? "mobile" : "";
}

}  // namespace clickstream::useragent
