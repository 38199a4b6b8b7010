#include "appliance/ui/ui_routes.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace sealgate::appliance::ui {
namespace {

Response responseOf(HandlerResult r) {
  auto* out = std::get_if<Response>(&r);
  EXPECT_NE(out, nullptr);
  return out != nullptr ? std::move(*out) : Response{};
}

TEST(UiAssets, AreEmbeddedSortedAndStartWithTheIndexPage) {
  const auto& table = assets();
  ASSERT_FALSE(table.empty());
  for (std::size_t i = 1; i < table.size(); ++i) EXPECT_LT(table[i - 1].path, table[i].path);
  const Response index = responseOf(serveAsset(""));
  EXPECT_EQ(index.contentType, "text/html; charset=utf-8");
  EXPECT_NE(index.rawBody.find("<!doctype html>"), std::string::npos);
  EXPECT_EQ(index.rawBody, responseOf(serveAsset("index.html")).rawBody);
}

TEST(UiAssets, CarryTheSecurityHeaders) {
  const Response r = responseOf(serveAsset("index.html"));
  const std::string csp = r.headers.at("Content-Security-Policy");
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos);
  EXPECT_EQ(r.headers.at("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(r.headers.at("X-Frame-Options"), "DENY");
}

TEST(UiAssets, ServeOnlyEmbeddedFiles) {
  for (const char* path :
       {"nope.js", "../CMakeLists.txt", "app/../index.html", "index.html/", "INDEX.HTML", "/etc/passwd", "index.htm"}) {
    const auto r = serveAsset(path);
    const auto* err = std::get_if<HttpError>(&r);
    ASSERT_NE(err, nullptr) << path;
    EXPECT_EQ(err->code, ErrorCode::NotFound) << path;
  }
  EXPECT_EQ(responseOf(serveAsset("app.js")).contentType, "text/javascript; charset=utf-8");
  EXPECT_EQ(responseOf(serveAsset("style.css")).contentType, "text/css; charset=utf-8");
}

// What the CSP enforces in the browser, checked on the files themselves: no inline
// script, style or event handler, and nothing loaded from another origin.
TEST(UiAssets, HaveNoInlineCodeAndNoOtherOrigin) {
  const std::regex inlineScript(R"(<script(?![^>]*\bsrc=)[^>]*>)", std::regex::icase);
  const std::regex handler(R"(\son[a-z]+\s*=)", std::regex::icase);
  const std::regex styleAttr(R"(\sstyle\s*=)", std::regex::icase);
  const std::regex otherOrigin(R"((https?:)?//[a-z0-9.-]+\.[a-z]{2,}[/:"'])", std::regex::icase);
  // SVG's namespace name is an identifier that looks like a URL; nothing is loaded from it.
  const std::string svgNamespace = "http://www.w3.org/2000/svg";
  for (const auto& a : assets()) {
    std::string body(a.body);
    for (auto at = body.find(svgNamespace); at != std::string::npos; at = body.find(svgNamespace)) {
      body.erase(at, svgNamespace.size());
    }
    if (a.path.ends_with(".html")) {
      EXPECT_FALSE(std::regex_search(body, inlineScript)) << a.path;
      EXPECT_FALSE(std::regex_search(body, handler)) << a.path;
      EXPECT_FALSE(std::regex_search(body, styleAttr)) << a.path;
      EXPECT_EQ(body.find("<style"), std::string::npos) << a.path;
    }
    EXPECT_FALSE(std::regex_search(body, otherOrigin)) << a.path;
  }
}

TEST(UiRoutes, WhoamiNamesTheCertificatesRoleAndAnyAdminRoleMayLoadPages) {
  std::vector<Route> routes;
  addUiRoutes(routes);
  ASSERT_EQ(routes.size(), 3U);
  for (const auto& r : routes) {
    EXPECT_EQ(r.method, "GET") << r.path;
    EXPECT_EQ(r.access, Access::Admin) << r.path;
    EXPECT_TRUE(r.roles.empty()) << r.path;  // admin, auditor, approver
  }
  Request request;
  request.identity.spiffeId = "spiffe://sealgate-admin/auditor/carol";
  request.identity.role = "auditor";
  request.identity.name = "carol";
  const Response who = responseOf(routes[2].handler(request));
  EXPECT_EQ(
      who.body,
      (nlohmann::json{{"spiffe_id", "spiffe://sealgate-admin/auditor/carol"}, {"role", "auditor"}, {"name", "carol"}}));
  const Response redirect = responseOf(routes[0].handler(request));
  EXPECT_EQ(redirect.status, 308);
  EXPECT_EQ(redirect.headers.at("Location"), "/ui/");
}

}  // namespace
}  // namespace sealgate::appliance::ui
