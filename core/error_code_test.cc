// The code list (core/error_code.h) against the contract: docs/API.md's error table
// and docs/openapi.json's enum of error codes. Either side changing alone fails here.
#include "core/error_code.h"

#include "core/interfaces/secret_provider.h"
#include "core/interfaces/state_store.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace sealgate {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The rows of the table under "## Errors": "| status | `CODE`, `CODE` | when |".
// A code listed twice would make the table ambiguous: recorded as status -1.
std::map<std::string, int> apiTable(const std::string& markdown) {
  std::map<std::string, int> out;
  std::istringstream lines(markdown);
  std::string line;
  bool inErrors = false;
  const std::regex row(R"(^\|\s*([0-9]{3})\s*\|([^|]*)\|)");
  const std::regex code("`([A-Z][A-Z0-9_]*)`");
  while (std::getline(lines, line)) {
    if (line.rfind("## ", 0) == 0) inErrors = line == "## Errors";
    std::smatch m;
    if (!inErrors || !std::regex_search(line, m, row)) continue;
    const int status = std::stoi(m[1]);
    const std::string codes = m[2];
    for (std::sregex_iterator it(codes.begin(), codes.end(), code), end; it != end; ++it) {
      auto [pos, inserted] = out.emplace((*it)[1], status);
      if (!inserted) pos->second = -1;
    }
  }
  return out;
}

TEST(ErrorCodeTest, TableIsApiMdsErrorTable) {
  const auto table = apiTable(readFile(SEALGATE_API_MD));
  ASSERT_GT(table.size(), 50u) << "the error table of " << SEALGATE_API_MD << " was not found";
  for (const auto& [name, status] : table) {
    SCOPED_TRACE(name);
    EXPECT_NE(status, -1) << "listed twice in API.md";
    auto code = parseErrorCode(name);
    ASSERT_TRUE(code.has_value()) << "in API.md's table, not in core/error_code.h";
    EXPECT_TRUE(isApiCode(*code)) << "in API.md's table but marked internal";
    EXPECT_EQ(httpStatus(*code), status);
  }
  for (const auto& info : kErrorCodes) {
    if (info.exposure == Exposure::Api) {
      EXPECT_EQ(table.count(info.name), 1u) << info.name << " is API-facing but not in API.md's table";
    } else {
      EXPECT_EQ(table.count(info.name), 0u) << info.name << " is internal but in API.md's table";
      EXPECT_EQ(info.httpStatus, 500) << info.name;
    }
  }
}

TEST(ErrorCodeTest, OpenApiEnumIsTheApiCodes) {
  const auto doc = nlohmann::json::parse(readFile(SEALGATE_OPENAPI_JSON));
  const auto& e = doc.at("/components/schemas/Error/properties/error/properties/code/enum"_json_pointer);
  std::set<std::string> listed;
  for (const auto& name : e) EXPECT_TRUE(listed.insert(name.get<std::string>()).second) << name << " listed twice";
  std::set<std::string> api;
  for (const auto& info : kErrorCodes) {
    if (info.exposure == Exposure::Api) api.insert(info.name);
  }
  EXPECT_EQ(listed, api);
}

TEST(ErrorCodeTest, NamesAreUniqueUpperSnakeAndParseBack) {
  std::set<std::string> seen;
  const std::regex upperSnake("[A-Z][A-Z0-9]*(_[A-Z0-9]+)*");
  for (std::size_t i = 0; i < kErrorCodeCount; ++i) {
    const auto& info = kErrorCodes[i];
    SCOPED_TRACE(info.name);
    EXPECT_EQ(static_cast<std::size_t>(info.code), i);
    EXPECT_TRUE(seen.insert(info.name).second) << "duplicate name";
    EXPECT_TRUE(std::regex_match(info.name, upperSnake));
    EXPECT_EQ(parseErrorCode(info.name), info.code);
    EXPECT_EQ(errorCodeName(info.code), std::string(info.name));
  }
  EXPECT_FALSE(parseErrorCode("invalid_request").has_value());
  EXPECT_FALSE(parseErrorCode("").has_value());
  EXPECT_FALSE(parseErrorCode("INVALID_REQUEST ").has_value());
}

TEST(ErrorCodeTest, StatusesAndPrinting) {
  EXPECT_EQ(httpStatus(ErrorCode::InvalidRequest), 400);
  EXPECT_EQ(httpStatus(ErrorCode::GrantExhausted), 403);
  EXPECT_EQ(httpStatus(ErrorCode::PeerTimeout), 504);
  EXPECT_EQ(httpStatus(ErrorCode::HsmKeyNotFound), 500);
  EXPECT_FALSE(isApiCode(ErrorCode::HsmKeyNotFound));
  std::ostringstream os;
  os << ErrorCode::UriTenantMismatch;
  EXPECT_EQ(os.str(), "URI_TENANT_MISMATCH");
  const nlohmann::json j = {{"code", ErrorCode::StateRollback}};
  EXPECT_EQ(j.dump(), R"({"code":"STATE_ROLLBACK"})");
}

// The boundaries where a component's error becomes an API answer: every result is
// API-facing, the component's own answerable codes stand, anything else is mapped.
TEST(ErrorCodeTest, StateAndProviderBoundariesAnswerOnlyApiCodes) {
  for (const auto& info : kErrorCodes) {
    SCOPED_TRACE(info.name);
    EXPECT_TRUE(isApiCode(stateFailureCode(info.code)));
    EXPECT_EQ(httpStatus(stateFailureCode(info.code)), 503);
    EXPECT_TRUE(isApiCode(providerFailureCode(info.code)));
  }
  EXPECT_EQ(stateFailureCode(ErrorCode::StateRollback), ErrorCode::StateRollback);
  EXPECT_EQ(stateFailureCode(ErrorCode::TpmError), ErrorCode::TpmError);
  EXPECT_EQ(stateFailureCode(ErrorCode::HsmDecryptFailed), ErrorCode::StateUnavailable);
  EXPECT_EQ(stateFailureCode(ErrorCode::TpmCounterAuth), ErrorCode::StateUnavailable);
  EXPECT_EQ(stateFailureCode(ErrorCode::GrantExhausted), ErrorCode::StateUnavailable);
  EXPECT_TRUE(isGrantRefusal(ErrorCode::GrantExhausted));
  EXPECT_FALSE(isGrantRefusal(ErrorCode::StateFull));
  EXPECT_EQ(providerFailureCode(ErrorCode::VersionDestroyed), ErrorCode::VersionDestroyed);
  EXPECT_EQ(providerFailureCode(ErrorCode::KvTampered), ErrorCode::ProviderUnavailable);
}

}  // namespace
}  // namespace sealgate
