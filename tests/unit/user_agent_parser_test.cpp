// uap-core's rules as the binary carries them: the agents the funnel has to tell apart (Safari on
// an iPhone from Chrome on one, an iPad from an iPhone, Samsung Internet from Chrome), and the
// rule semantics (first match, $N replacements, case-insensitive device rules).
#include <gtest/gtest.h>

#include "useragent/user_agent_parser.h"

namespace clickstream::useragent {
namespace {

const UserAgentParser& Builtin() {
  static const auto parser = [] {
    auto built = UserAgentParser::Builtin();
    EXPECT_TRUE(built.ok()) << built.status().ToString();
    return std::move(*built);
  }();
  return *parser;
}

struct Expected {
  const char* agent;
  const char* browser;
  const char* os;
  const char* device;
  const char* form_factor;
};

TEST(UserAgentParser, TellsApartTheAgentsTheFunnelSplitsBy) {
  const Expected cases[] = {
      {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
       "Version/17.1 Mobile/15E148 Safari/604.1",
       "Mobile Safari", "iOS", "iPhone", "mobile"},
      {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
       "CriOS/119.0.6045.169 Mobile/15E148 Safari/604.1",
       "Chrome Mobile iOS", "iOS", "iPhone", "mobile"},
      {"Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
       "Mobile/15E148 Safari/604.1",
       "Mobile Safari", "iOS", "iPad", "tablet"},
      {"Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
       "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
       "Samsung Internet", "Android", "Samsung SM-S911B", "mobile"},
      {"Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
       "Mobile Safari/537.36",
       "Chrome Mobile", "Android", "Samsung SM-S911B", "mobile"},
      {"Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
       "Safari/537.36",
       "Chrome", "Android", "SM-X200", "tablet"},
      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
       "Safari/537.36",
       "Chrome", "Windows", "Other", "desktop"},
      {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
       "Safari/605.1.15",
       "Safari", "Mac OS X", "Mac", "desktop"},
      {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot", "Other", "Spider",
       "bot"},
  };
  for (const Expected& expected : cases) {
    const UserAgent agent = Builtin().Parse(expected.agent);
    EXPECT_EQ(agent.browser, expected.browser) << expected.agent;
    EXPECT_EQ(agent.os, expected.os) << expected.agent;
    EXPECT_EQ(agent.device, expected.device) << expected.agent;
    EXPECT_EQ(agent.form_factor, expected.form_factor) << expected.agent;
  }
}

TEST(UserAgentParser, AnAgentNoRuleKnowsIsOtherWithNoFormFactor) {
  const UserAgent agent = Builtin().Parse("Xyzzy (Plugh)");
  EXPECT_EQ(agent.browser, "Other");
  EXPECT_EQ(agent.os, "Other");
  EXPECT_EQ(agent.device, "Other");
  EXPECT_EQ(agent.form_factor, "");
  EXPECT_EQ(Builtin().Parse("").browser, "Other");
}

TEST(UserAgentParser, AppliesRulesAsTheSpecificationSays) {
  auto parser = UserAgentParser::FromRules(R"(
user_agent_parsers:
  - regex: '(Shop)App/(\d+)'
    family_replacement: '$1 App $2'
  - regex: '(Shop)'
os_parsers:
  - regex: '(ShopOS) (\d+)'
device_parsers:
  - regex: '; (gizmo)-(\w+)'
    regex_flag: 'i'
    device_replacement: 'Gizmo $2'
    brand_replacement: 'Gizmo'
)");
  ASSERT_TRUE(parser.ok()) << parser.status().ToString();
  const UserAgent agent = (*parser)->Parse("ShopApp/7 (ShopOS 3; GIZMO-X1)");
  EXPECT_EQ(agent.browser, "Shop App 7");  // the first rule that matches, with its groups substituted
  EXPECT_EQ(agent.os, "ShopOS");
  EXPECT_EQ(agent.device, "Gizmo X1");  // matched case-insensitively
  EXPECT_EQ(agent.brand, "Gizmo");
  EXPECT_EQ(agent.model, "GIZMO");  // no model replacement: the first group
}

TEST(UserAgentParser, RulesThatDoNotCompileAreRefusedByName) {
  EXPECT_TRUE(UserAgentParser::FromRules("user_agent_parsers: [").status().IsInvalid());
  EXPECT_TRUE(UserAgentParser::FromRules("os_parsers: []\ndevice_parsers: []\n").status().IsInvalid());
  const auto broken = UserAgentParser::FromRules(
      "user_agent_parsers:\n  - regex: '(unclosed'\nos_parsers: []\ndevice_parsers: []\n");
  ASSERT_TRUE(broken.status().IsInvalid());
  EXPECT_NE(broken.status().message().find("(unclosed"), std::string::npos) << broken.status().message();
}

}  // namespace
}  // namespace clickstream::useragent
