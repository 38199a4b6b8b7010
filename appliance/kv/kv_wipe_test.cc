// No plaintext of a KV value is left in freed C++ heap memory by the KV API, on
// any path: success, early refusal, store error, audit failure, patch. This
// binary replaces the global operator delete: while a test arms it, every block
// freed through operator delete is scanned for a canary value before free().
//
// What it observes: C++ heap blocks (std::string buffers, JSON nodes) released
// by operator delete during KvApi::handle. What it cannot: memory released with
// free() by C libraries, stack copies, and the HTTP layer (its answer is wiped
// after sending by http_server.cc; here the test wipes the answer the same way).
// Values must be longer than std::string's inline buffer (15 bytes) to live on
// the heap at all.
#include <execinfo.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>

#include "appliance/keys/data_key_sealer.h"
#include "appliance/kv/kv_api.h"
#include "core/wipe.h"
#include "tests/support/temp_token.h"

namespace {
std::atomic<bool> gArmed{false};
std::atomic<int> gLeaks{0};
const char* gCanaries[2] = {nullptr, nullptr};

void scanAndFree(void* p) noexcept {
  if (p != nullptr && gArmed.load(std::memory_order_relaxed)) {
    const std::size_t size = malloc_usable_size(p);
    for (const char* canary : gCanaries) {
      if (canary != nullptr && memmem(p, size, canary, strlen(canary)) != nullptr) {
        gLeaks.fetch_add(1);
        // SEALGATE_WIPE_TRACE=1: where the unwiped copy was freed (addr2line the frames).
        if (std::getenv("SEALGATE_WIPE_TRACE") != nullptr) {
          void* frames[32];
          backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
          (void)!write(2, "----\n", 5);
        }
      }
    }
  }
  std::free(p);
}
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept { scanAndFree(p); }
void operator delete[](void* p) noexcept { scanAndFree(p); }
void operator delete(void* p, std::size_t) noexcept { scanAndFree(p); }
void operator delete[](void* p, std::size_t) noexcept { scanAndFree(p); }

namespace sealgate::appliance {
namespace {

using nlohmann::json;

// Long and distinct: heap-allocated wherever they are copied.
const std::string kOld = "OLD-canary-value-0123456789-abcdefghij";
const std::string kNew = "NEW-canary-value-9876543210-klmnopqrst";

class NullAudit : public AuditSink {
 public:
  Result<std::uint64_t> append(const std::string&) override {
    if (down) return makeError(ErrorCode::AuditIo, "injected");
    return ++n;
  }
  bool healthy() const override { return !down; }
  bool down = false;
  std::uint64_t n = 0;
};

class KvWipe : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    keys_ = sealgate::testing::openFreshToken("kv-wipe-test").release();
    ASSERT_TRUE(keys_->generateAes256Key("sealgate-kek"));
    ASSERT_TRUE(keys_->generateHmacKey("sealgate-ref-hmac-v1"));
    char tmpl[] = "/tmp/sealgate-kvwipe-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    sealer_ = new HsmTpmDataKeySealer(*keys_, "sealgate-kek", nullptr, std::vector<unsigned>{});
    auto s = providers::KvStore::open(providers::KvStoreSettings{dir_ + "/kv", {{"acme", {"kv"}}}}, *sealer_);
    ASSERT_TRUE(s);
    store_ = s->release();
    mac_ = new hsm::HsmRefMac(*keys_, 1);
    refs_ = new ResourceRefs(*mac_, 100);
    pdp_ = new EmbeddedPolicyDecisionPoint(std::make_shared<const Policy>(*Policy::parse(devPolicyJson())));
    api_ = new KvApi(store_, "acme", *refs_, *pdp_, audit_);
  }
  static void TearDownTestSuite() {
    delete api_;
    delete pdp_;
    delete refs_;
    delete mac_;
    delete store_;
    delete sealer_;
    delete keys_;
    std::filesystem::remove_all(dir_);
  }
  void SetUp() override {
    gCanaries[0] = kOld.c_str();
    gCanaries[1] = kNew.c_str();
    gLeaks = 0;
    audit_.down = false;
  }
  void TearDown() override { gArmed = false; }

  static Request req(const std::string& method, const std::string& rest, json body = json::object()) {
    Request r;
    r.method = method;
    r.pathParam = rest;
    r.body = std::move(body);
    r.identity.kind = IdentityKind::Admin;
    r.identity.role = "admin";
    r.identity.name = "admin";
    r.identity.spiffeId = "spiffe://sealgate-admin/admin/admin";
    r.correlationId = "c1";
    return r;
  }
  static json body(const std::string& value) { return json{{"data", {{"password", value}, {"user", "app"}}}}; }

  // Runs the request with the scan armed, then wipes the answer as the HTTP
  // layer does after sending it; returns the status and code.
  std::pair<int, std::string> run(Request& r) {
    gArmed = true;
    HandlerResult out = api_->handle(r);
    std::pair<int, std::string> what;
    if (auto* e = std::get_if<HttpError>(&out)) {
      what = {e->status, errorCodeName(e->code)};
      lastMessage_ = e->message;
    } else {
      auto& resp = std::get<Response>(out);
      what = {resp.status, ""};
      wipeJson(resp.body);
      wipeString(resp.rawBody);
    }
    return what;  // `out` is destroyed here, still armed
  }
  // The value the request carried is gone from it too.
  static bool bodyWiped(const Request& r) {
    const std::string s = r.body.at("data").at("password").get<std::string>();
    return s.find_first_not_of('\0') == std::string::npos;
  }

  std::string lastMessage_;
  static inline hsm::KeyStore* keys_ = nullptr;
  static inline std::string dir_;
  static inline HsmTpmDataKeySealer* sealer_ = nullptr;
  static inline providers::KvStore* store_ = nullptr;
  static inline hsm::HsmRefMac* mac_ = nullptr;
  static inline ResourceRefs* refs_ = nullptr;
  static inline EmbeddedPolicyDecisionPoint* pdp_ = nullptr;
  static inline NullAudit audit_;
  static inline KvApi* api_ = nullptr;
};

TEST_F(KvWipe, TheHookSeesAnUnwipedCopy) {
  // The instrument works: a freed copy of a canary is counted, a wiped one is not.
  gArmed = true;
  { std::string copy = kNew; }
  EXPECT_EQ(gLeaks.load(), 1);
  {
    std::string copy = kNew;
    wipeString(copy);
  }
  gArmed = false;
  EXPECT_EQ(gLeaks.load(), 1);
}

TEST_F(KvWipe, RefusedBeforeTheHandlerRuns) {
  // Early refusals in handle(): no such mount, a bad path, response wrapping asked.
  for (const char* rest : {"nomount/data/app/x", "kv/data/app/../x"}) {
    Request r = req("POST", rest, body(kNew));
    auto [status, code] = run(r);
    EXPECT_GE(status, 400) << rest;
    EXPECT_TRUE(bodyWiped(r)) << rest << " " << code;
  }
  Request wrapped = req("POST", "kv/data/app/wrapped", body(kNew));
  wrapped.headers["x-vault-wrap-ttl"] = "60s";
  EXPECT_EQ(run(wrapped).second, "WRAPPING_UNSUPPORTED");
  EXPECT_TRUE(bodyWiped(wrapped));
  Request auditor = req("POST", "kv/data/app/x", body(kNew));
  auditor.identity.role = "auditor";
  EXPECT_EQ(run(auditor).second, "FORBIDDEN");
  EXPECT_TRUE(bodyWiped(auditor));
  EXPECT_EQ(gLeaks.load(), 0);
}

TEST_F(KvWipe, WritesThatFailLeaveNothing) {
  Request first = req("POST", "kv/data/app/w", body(kOld));
  ASSERT_EQ(run(first).first, 200);
  // A check-and-set mismatch (the store refuses after the value was serialised).
  Request cas = req("POST", "kv/data/app/w", json{{"data", {{"password", kNew}}}, {"options", {{"cas", 7u}}}});
  EXPECT_EQ(run(cas).second, "KV_CAS_MISMATCH") << lastMessage_;
  EXPECT_TRUE(bodyWiped(cas));
  // The audit log cannot record: nothing written.
  audit_.down = true;
  Request noAudit = req("POST", "kv/data/app/w", body(kNew));
  EXPECT_EQ(run(noAudit).second, "AUDIT_UNAVAILABLE");
  EXPECT_TRUE(bodyWiped(noAudit));
  audit_.down = false;
  EXPECT_EQ(gLeaks.load(), 0);
}

TEST_F(KvWipe, PatchesLeaveNeitherTheOldNorTheNewValue) {
  Request first = req("POST", "kv/data/app/p", body(kOld));
  ASSERT_EQ(run(first).first, 200);
  // Replaces the old password: the merge must wipe the value it drops.
  Request patch = req("PATCH", "kv/data/app/p", body(kNew));
  patch.headers["content-type"] = "application/merge-patch+json";
  EXPECT_EQ(run(patch).first, 200);
  EXPECT_TRUE(bodyWiped(patch));
  // A failing patch (wrong cas) after the merge: both values were in memory.
  Request bad = req("PATCH", "kv/data/app/p", json{{"data", {{"password", kOld}}}, {"options", {{"cas", 1u}}}});
  bad.headers["content-type"] = "application/merge-patch+json";
  EXPECT_EQ(run(bad).second, "KV_CAS_MISMATCH");
  // Removing the field (null) wipes what it removes.
  Request remove = req("PATCH", "kv/data/app/p", json{{"data", {{"password", nullptr}}}});
  remove.headers["content-type"] = "application/merge-patch+json";
  EXPECT_EQ(run(remove).first, 200);
  EXPECT_EQ(gLeaks.load(), 0);
}

TEST_F(KvWipe, RevealsLeaveNothingOnceTheAnswerIsWiped) {
  Request w = req("POST", "kv/data/app/r", body(kOld));
  ASSERT_EQ(run(w).first, 200);
  Request r = req("GET", "kv/data/app/r");
  EXPECT_EQ(run(r).first, 200);
  // The same with the audit log down: refused after the store was read.
  audit_.down = true;
  Request down = req("GET", "kv/data/app/r");
  EXPECT_EQ(run(down).second, "AUDIT_UNAVAILABLE");
  audit_.down = false;
  EXPECT_EQ(gLeaks.load(), 0);
}

}  // namespace
}  // namespace sealgate::appliance
