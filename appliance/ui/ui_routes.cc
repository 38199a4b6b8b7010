#include "appliance/ui/ui_routes.h"

#include <algorithm>
#include <string>

namespace sealgate::appliance::ui {

const char* const kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

namespace {

std::string contentTypeOf(std::string_view path) {
  const auto dot = path.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "json") return "application/json";
  return "application/octet-stream";
}

void addPageHeaders(Response& r) {
  r.headers["Content-Security-Policy"] = kContentSecurityPolicy;
  r.headers["Referrer-Policy"] = "no-referrer";
  r.headers["X-Frame-Options"] = "DENY";
  r.headers["Cross-Origin-Opener-Policy"] = "same-origin";
  r.headers["Cross-Origin-Resource-Policy"] = "same-origin";
  r.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), usb=(), payment=()";
}

}  // namespace

HandlerResult serveAsset(std::string_view rest) {
  const std::string_view path = rest.empty() ? std::string_view("index.html") : rest;
  const auto& table = assets();
  const auto it =
      std::lower_bound(table.begin(), table.end(), path, [](const Asset& a, std::string_view p) { return a.path < p; });
  if (it == table.end() || it->path != path) return HttpError{ErrorCode::NotFound, "no such page"};
  Response r;
  r.contentType = contentTypeOf(path);
  r.rawBody = std::string(it->body);
  addPageHeaders(r);
  return r;
}

void addUiRoutes(std::vector<Route>& routes) {
  // Any admin-side role may load the pages; what each role may do is the API's to decide.
  routes.push_back(Route{"GET", "/ui", Access::Admin, {}, false, [](Request&) -> HandlerResult {
                           Response r(308, nlohmann::json::object());
                           r.headers["Location"] = "/ui/";
                           addPageHeaders(r);
                           return r;
                         }});
  routes.push_back(
      Route{"GET", "/ui/**", Access::Admin, {}, false, [](Request& request) { return serveAsset(request.pathParam); }});
  routes.push_back(Route{"GET", "/admin/v1/whoami", Access::Admin, {}, false, [](Request& request) -> HandlerResult {
                           return Response{200, nlohmann::json{{"spiffe_id", request.identity.spiffeId},
                                                               {"role", request.identity.role},
                                                               {"name", request.identity.name}}};
                         }});
}

}  // namespace sealgate::appliance::ui
