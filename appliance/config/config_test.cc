#include "appliance/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace sealgate::appliance {
namespace {

const char* kMinimal = R"({
  // comments are allowed
  "pep": {"ca_file": "pki/ca.pem", "cert_file": "pki/server.pem", "public_url": "https://sealgate.example.com:8443/"},
  "admin": {"ca_file": "/abs/ca.pem", "cert_file": "pki/server.pem"},
  "hsm": {"pin_file": "hsm.pin"},
  "state": {"rollback_protection": "none"}
})";

TEST(Config, EmbeddedDefaultsAndRelativePaths) {
  auto c = Config::parse(kMinimal, "/etc/sealgate");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->pep.listen, "127.0.0.1:8443");
  EXPECT_EQ(c->admin.listen, "127.0.0.1:9443");
  EXPECT_EQ(c->pep.caFile, "/etc/sealgate/pki/ca.pem");
  EXPECT_EQ(c->admin.caFile, "/abs/ca.pem");
  EXPECT_EQ(c->hsm.pinFile, "/etc/sealgate/hsm.pin");
  EXPECT_EQ(c->hsm.module, "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(c->limits.maxBodyBytes, 65536u);
  EXPECT_EQ(c->limits.requestDeadline.count(), 10000);
  EXPECT_EQ(c->state.dir, "/etc/sealgate/state");  // <data_dir>/state, data_dir defaulting to the config's folder
  EXPECT_TRUE(c->tpm.tcti.empty());
}

TEST(Config, StateAndTpmSettings) {
  const std::string base =
      R"({"pep": {"ca_file": "a", "cert_file": "b", "public_url": "https://sg.example"}, "admin": {"ca_file": "a", "cert_file": "b"},
                               "hsm": {"pin_file": "p"}, "data_dir": "/var/lib/sg", )";
  auto c = Config::parse(base + R"("state": {"rollback_protection": "tpm", "checkpoint_interval_ms": 5000},
      "tpm": {"tcti": "swtpm:path=/run/swtpm.sock", "pcrs": [0, 7], "nv_index": "0x01500021"}})",
                         "/etc");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->state.dir, "/var/lib/sg/state");
  EXPECT_EQ(c->state.rollbackProtection, RollbackProtection::Tpm);
  EXPECT_EQ(c->state.checkpointInterval.count(), 5000);
  EXPECT_EQ(c->tpm.pcrs, (std::vector<unsigned>{0, 7}));
  EXPECT_EQ(c->tpm.nvIndex, 0x01500021u);

  struct Case {
    std::string text;
    const char* needle;
  } cases[] = {
      {base + R"("state": {}})", "rollback_protection"},  // never implicit
      {base + R"("state": {"rollback_protection": "maybe"}})", "rollback_protection"},
      {base + R"("state": {"rollback_protection": "tpm"}})", "tpm.tcti"},  // tpm without a TPM
      {base + R"("state": {"rollback_protection": "none", "journal": 1}})", "state.journal"},
      {base + R"("state": {"rollback_protection": "none"}, "tpm": {"pcrs": []}})", "tpm.pcrs"},
      {base + R"("state": {"rollback_protection": "none"}, "tpm": {"pcrs": [24]}})", "tpm.pcrs"},
      {base + R"("state": {"rollback_protection": "none"}, "tpm": {"nv_index": "0x99"}})", "tpm.nv_index"},
      {base + R"("state": {"rollback_protection": "none"}, "tpm": {"nv_index": "zz"}})", "tpm.nv_index"},
      {base + R"("state": {"rollback_protection": "none", "commit_wait_ms": 0}})", "commit_wait_ms"},
  };
  for (const auto& k : cases) {
    auto bad = Config::parse(k.text, "/etc");
    ASSERT_FALSE(bad.ok()) << k.text;
    EXPECT_EQ(bad.error().code, ErrorCode::ConfigInvalid);
    EXPECT_NE(bad.error().message.find(k.needle), std::string::npos) << bad.error().message;
  }
}

TEST(Config, BreakGlassIsOffUnlessConfigured) {
  auto off = Config::parse(kMinimal, "/etc/sealgate");
  ASSERT_TRUE(off.ok()) << off.error().describe();
  EXPECT_FALSE(off->breakglass.enabled);

  const std::string base = std::string(kMinimal).substr(0, std::string(kMinimal).rfind('}')) + ", ";
  auto on = Config::parse(base + R"("breakglass": {"ek_ca_file": "tpm-ca.pem", "quorum": 3, "pcrs": [7, 0, 7],
      "max_duration_seconds": 1800, "request_ttl_seconds": 600, "credential_ttl_seconds": 120,
      "persons": {"admin/al": "alice", "approver/alice": "alice"}}})",
                          "/etc/sealgate");
  ASSERT_TRUE(on.ok()) << on.error().describe();
  EXPECT_TRUE(on->breakglass.enabled);
  EXPECT_EQ(on->breakglass.ekCaFile, "/etc/sealgate/tpm-ca.pem");
  EXPECT_EQ(on->breakglass.quorum, 3u);
  EXPECT_EQ(on->breakglass.approverPcrs, (std::vector<unsigned>{0, 7}));  // sorted, no repeats
  EXPECT_EQ(on->breakglass.maxDurationSeconds, 1800);
  EXPECT_EQ(on->breakglass.requestTtlSeconds, 600);
  EXPECT_EQ(on->breakglass.credentialTtlSeconds, 120);
  EXPECT_EQ(on->breakglass.persons.at("admin/al"), "alice");

  auto defaults = Config::parse(base + R"("breakglass": {"ek_ca_file": "ca.pem"}})", "/etc");
  ASSERT_TRUE(defaults.ok()) << defaults.error().describe();
  EXPECT_EQ(defaults->breakglass.quorum, 2u);
  EXPECT_EQ(defaults->breakglass.approverPcrs, (std::vector<unsigned>{0, 1, 2, 3, 7, 16}));

  struct Case {
    const char* section;
    const char* needle;
  } cases[] = {
      {R"({})", "ek_ca_file"},                            // no CA, nothing can be enrolled
      {R"({"ek_ca_file": "a", "quorum": 1})", "quorum"},  // one person alone is no quorum
      {R"({"ek_ca_file": "a", "max_duration_seconds": 0})", "max_duration_seconds"},
      {R"({"ek_ca_file": "a", "pcrs": [24]})", "breakglass.pcrs"},
      {R"({"ek_ca_file": "a", "pcrs": []})", "breakglass.pcrs"},
      {R"({"ek_ca_file": "a", "persons": {"alice": "alice"}})", "breakglass.persons"},
      {R"({"ek_ca_file": "a", "persons": {"service/x": "x"}})", "breakglass.persons"},
      {R"({"ek_ca_file": "a", "persons": {"admin/x": ""}})", "breakglass.persons"},
      {R"({"ek_ca_file": "a", "quorom": 2})", "breakglass.quorom"},
      {R"([])", "breakglass"},
  };
  for (const auto& k : cases) {
    auto bad = Config::parse(base + R"("breakglass": )" + k.section + "}", "/etc");
    ASSERT_FALSE(bad.ok()) << k.section;
    EXPECT_EQ(bad.error().code, ErrorCode::ConfigInvalid);
    EXPECT_NE(bad.error().message.find(k.needle), std::string::npos) << bad.error().message;
  }
}

TEST(Config, RejectsUnknownKeysWrongTypesAndBadRanges) {
  struct Case {
    const char* text;
    const char* needle;
  } cases[] = {
      {R"({"pep": {"ca_file": "a", "cert_file": "b", "lisen": "x"}})", "pep.lisen"},
      {R"({"unknown": 1})", "config.unknown"},
      {R"({"limits": {"max_body_bytes": "big"}})", "max_body_bytes"},
      {R"({"limits": {"max_body_bytes": 10}})", "max_body_bytes"},
      {R"({"limits": {"request_deadline_ms": -5}})", "request_deadline_ms"},
      {R"({"limits": {"keepalive_timeout_ms": 20000}})", "keepalive_timeout_ms"},
      {R"({"limits": {"worker_threads": 100, "max_connections": 10}})", "worker_threads"},
      {R"({"log": {"level": "loud"}})", "log.level"},
      {R"({"hsm": {"pin_file": "a", "pin_env": "B"}})", "not both"},
      {R"({"hsm": 5})", "hsm must be an object"},
      {R"({not json)", "not valid JSON"},
  };
  for (const auto& c : cases) {
    auto r = Config::parse(c.text, "/x");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().code, ErrorCode::ConfigInvalid);
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
  }
}

TEST(Config, RequiresAPinSourceAndListenerFiles) {
  EXPECT_FALSE(
      Config::parse(
          R"({"pep": {"ca_file": "a", "cert_file": "b", "public_url": "https://sg.example"}, "admin": {"ca_file": "a", "cert_file": "b"}})",
          "/")
          .ok());
  EXPECT_FALSE(Config::parse(R"({"hsm": {"pin_env": "P"}})", "/").ok());
  EXPECT_TRUE(
      Config::parse(
          R"({"pep": {"ca_file": "a", "cert_file": "b", "public_url": "https://sg.example"}, "admin": {"ca_file": "a", "cert_file": "b"}, "hsm": {"pin_env": "P"}, "state": {"rollback_protection": "none"}})",
          "/")
          .ok());
}

}  // namespace
}  // namespace sealgate::appliance

namespace sealgate::appliance {
namespace {

// Issue 12 (items 10, 11, 17): the public URL, the handshake stage and CRLs.
TEST(Config, PublicUrlIsRequiredOutsideDevelopmentMode) {
  const std::string rest = R"("admin": {"ca_file": "a", "cert_file": "b"}, "hsm": {"pin_env": "P"},
                               "state": {"rollback_protection": "none"})";
  auto parse = [&rest](const std::string& pep, const std::string& more = "") {
    return Config::parse("{\"pep\": " + pep + ", " + rest + more + "}", "/etc");
  };
  // Production (the default) without pep.public_url: refused, whatever Host says later.
  auto r = parse(R"({"ca_file": "a", "cert_file": "b"})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("pep.public_url is required"), std::string::npos) << r.error().message;
  // Development mode may leave it out on a concrete listen address, not on a wildcard.
  EXPECT_TRUE(parse(R"({"ca_file": "a", "cert_file": "b"})", R"(, "mode": "development")").ok());
  r = parse(R"({"listen": "0.0.0.0:8443", "ca_file": "a", "cert_file": "b"})", R"(, "mode": "development")");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("wildcard"), std::string::npos);
  // Well-formed URLs only.
  for (const char* url : {"http://sg.example", "https://", "https://user@sg.example", "https://sg.example?x=1",
                          "https://sg.example#f", "https://sg.example:0", "https://sg.example:70000",
                          "https://sg.example:", "https://sg_example", "https://[::1", "sg.example"}) {
    auto bad = parse(std::string(R"({"ca_file": "a", "cert_file": "b", "public_url": ")") + url + "\"}");
    EXPECT_FALSE(bad.ok()) << url;
  }
  auto ok = parse(R"({"ca_file": "a", "cert_file": "b", "public_url": "https://SG.example:9443/prefix/"})");
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  auto url = parsePublicUrl(ok->pep.publicUrl);
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "sg.example");
  EXPECT_EQ(url->port, 9443);
  EXPECT_EQ(url->base, "https://SG.example:9443/prefix");
  url = parsePublicUrl("https://[::1]");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 443);
}

TEST(Config, HandshakeStageAndCrlKeys) {
  const std::string base =
      R"({"pep": {"ca_file": "a", "cert_file": "b", "public_url": "https://sg.example", "crl_file": "crl.pem"},
                               "admin": {"ca_file": "a", "cert_file": "b", "crl_file": "/abs/admin-crl.pem"},
                               "hsm": {"pin_env": "P"}, "state": {"rollback_protection": "none"})";
  auto c = Config::parse(base + "}", "/etc/sealgate");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->pep.crlFile, "/etc/sealgate/crl.pem");
  EXPECT_EQ(c->admin.crlFile, "/abs/admin-crl.pem");
  EXPECT_EQ(c->limits.handshakeTimeout.count(), 3000);
  EXPECT_EQ(c->limits.maxConnectionsPerPeer, 32u);
  c = Config::parse(base + R"(, "limits": {"max_connections": 8, "worker_threads": 4}})", "/");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->limits.maxConnectionsPerPeer, 8u);  // the default never exceeds the total cap
  c = Config::parse(base + R"(, "limits": {"handshake_timeout_ms": 500, "max_connections_per_peer": 4}})", "/");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->limits.handshakeTimeout.count(), 500);
  EXPECT_EQ(c->limits.maxConnectionsPerPeer, 4u);
  for (const char* limits :
       {R"({"handshake_timeout_ms": 50})", R"({"handshake_timeout_ms": 60001})", R"({"max_connections_per_peer": 0})",
        R"({"max_connections": 8, "worker_threads": 4, "max_connections_per_peer": 9})"}) {
    EXPECT_FALSE(Config::parse(base + ", \"limits\": " + limits + "}", "/").ok()) << limits;
  }
}

TEST(Config, ShippedApplianceDefaultConfigParses) {
  auto c = Config::load(SEALGATE_IMAGE_CONFIG);
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->pep.listen, "0.0.0.0:8443");
  EXPECT_EQ(c->hsm.pinFile, "/etc/sealgate/hsm.pin");
}

}  // namespace
}  // namespace sealgate::appliance

namespace sealgate::appliance {
namespace {

const std::string kBase =
    R"({"pep": {"ca_file": "a", "cert_file": "b", "public_url": "https://sg.example"}, "admin": {"ca_file": "a", "cert_file": "b"},
                              "hsm": {"pin_file": "p"}, "state": {"rollback_protection": "none"}, )";

TEST(Config, KvDatabasesAndFiles) {
  auto c = Config::parse(kBase + R"("kv": {"default_namespace": "acme", "mounts": {"acme": ["kv", "team-a"]}},
      "databases": [{"tenant": "acme", "mount": "db", "connection": {"host": "/run/pg", "port": 5433,
                     "password_file": "pg.pw"},
                     "roles": {"readonly": {"creation_statements": ["CREATE ROLE {{name}}"], "default_ttl": "1h",
                                            "max_ttl": 7200}}}],
      "leases": {"reap_interval_ms": 1000},
      "mode": "development", "files": [{"tenant": "acme", "mount": "dev", "path": "secrets.json"}]})",
                         "/etc/sg");
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ(c->kv.dir, "/etc/sg/kv");
  EXPECT_EQ(c->kv.defaultNamespace, "acme");
  EXPECT_EQ(c->kv.mounts.at("acme"), (std::vector<std::string>{"kv", "team-a"}));
  ASSERT_EQ(c->databases.size(), 1u);
  EXPECT_EQ(c->databases[0].connection.port, 5433);
  EXPECT_EQ(c->databases[0].connection.passwordFile, "/etc/sg/pg.pw");
  EXPECT_EQ(c->databases[0].roles.at("readonly").defaultTtl.count(), 3600);
  EXPECT_EQ(c->databases[0].roles.at("readonly").maxTtl.count(), 7200);
  EXPECT_EQ(c->leaseReapInterval.count(), 1000);
  ASSERT_EQ(c->files.size(), 1u);
  EXPECT_EQ(c->files[0].path, "/etc/sg/secrets.json");
  EXPECT_EQ(Config::parse(kMinimal, "/etc")->mode, RunMode::Production);
}

TEST(Config, RejectsBadProviderSettings) {
  const std::string db = R"("databases": [{"tenant": "acme", "mount": "db", "connection": {"host": "h"}, "roles": )";
  for (const std::string& bad : std::vector<std::string>{
           R"("kv": {"mounts": {"Bad_Tenant": ["kv"]}})", R"("kv": {"mounts": {"acme": ["KV"]}})",
           R"("kv": {"mounts": {"acme": "kv"}})", R"("kv": {"default_namespace": "sealgate-admin"})",
           R"("kv": {"unknown": 1})", db + R"({}}])", db + R"({"r": {"default_ttl": "2h", "max_ttl": "1h"}}}])",
           db + R"({"r": {"default_ttl": "soon"}}}])", db + R"({"R;x": {}}}])", db + R"({"r": {"extra": 1}}}])",
           R"("databases": [{"tenant": "acme", "mount": "db", "connection": {}, "roles": {"r": {}}}])",
           R"("kv": {"mounts": {"acme": ["db"]}}, )" + db + R"({"r": {}}}])", R"("mode": "test")",
           R"("files": [{"tenant": "acme", "mount": "dev", "path": "s.json"}])",
           R"("leases": {"reap_interval_ms": 1})"}) {
    auto c = Config::parse(kBase + bad + "}", "/etc");
    EXPECT_FALSE(c) << bad;
    if (!c) {
      EXPECT_EQ(c.error().code, ErrorCode::ConfigInvalid);
    }
  }
}

std::string withAudit(const std::string& audit) {
  return R"({"pep": {"ca_file": "a", "cert_file": "b", "public_url": "https://sg.example"}, "admin": {"ca_file": "a", "cert_file": "b"},
             "hsm": {"pin_file": "p"}, "state": {"rollback_protection": "none"}, "audit": )" +
         audit + "}";
}

TEST(Config, AuditSettings) {
  auto d = Config::parse(withAudit("{}"), "/x");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->audit.checkpointEvery, 1000u);
  EXPECT_EQ(d->audit.sampleAllow, 1u);
  EXPECT_TRUE(d->audit.kafkaBootstrapServers.empty());  // Kafka is off by default
  auto c = Config::parse(withAudit(R"({"checkpoint_every": 10, "checkpoint_interval_ms": 500, "append_timeout_ms": 100,
                                       "sample_allow": 5, "kafka": {"bootstrap_servers": "k:9092", "topic": "t"}})"),
                         "/x");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->audit.checkpointEvery, 10u);
  EXPECT_EQ(c->audit.checkpointInterval.count(), 500);
  EXPECT_EQ(c->audit.appendTimeout.count(), 100);
  EXPECT_EQ(c->audit.sampleAllow, 5u);
  EXPECT_EQ(c->audit.kafkaBootstrapServers, "k:9092");
  EXPECT_EQ(c->audit.kafkaTopic, "t");
  for (const char* bad : {R"({"checkpoint_every": 0})", R"({"sample_allow": 0})", R"({"append_timeout_ms": 1})",
                          R"({"kafka": {"topic": ""}})", R"({"kafka": {"brokers": "x"}})", R"({"typo": 1})"}) {
    auto r = Config::parse(withAudit(bad), "/x");
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::ConfigInvalid);
    }
  }
}

}  // namespace
}  // namespace sealgate::appliance

namespace sealgate::appliance {
namespace {

TEST(Config, VaultAndConnectors) {
  const std::string& base = kBase;
  auto c = Config::parse(base + R"("vault": {"address": "https://v:8200", "ca_file": "ca.pem", "token_file": "t",
      "namespace": "team-a", "mounts": {"acme/vault": "secret"}},
      "connectors": {"ca_file": "pki/ca.pem", "timeout_ms": 3000, "max_response_bytes": 4096}})",
                         "/etc/sg");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->vault.address, "https://v:8200");
  EXPECT_EQ(c->vault.caFile, "/etc/sg/ca.pem");
  EXPECT_EQ(c->vault.mounts.at("acme/vault"), "secret");
  EXPECT_EQ(c->connectors.caFile, "/etc/sg/pki/ca.pem");
  EXPECT_EQ(c->connectors.timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(c->connectors.maxResponseBytes, 4096u);
  // Not set: the connector timeout shrinks to fit a short request deadline.
  auto shrunk = Config::parse(base + R"("limits": {"request_deadline_ms": 2000, "keepalive_timeout_ms": 500}})", "/");
  ASSERT_TRUE(shrunk.ok()) << shrunk.error().describe();
  EXPECT_EQ(shrunk->connectors.timeout, std::chrono::milliseconds(1000));
  for (const std::string bad : {R"("vault": {"address": "https://v"}})",              // no mounts
                                R"("vault": {"mounts": {"acme/vault": "secret"}}})",  // no address
                                R"("vault": {"address": "https://v", "mounts": {"acme": "secret"}}})",
                                R"("vault": {"address": "https://v", "mounts": {"acme/vault": 1}}})",
                                R"("vault": {"address": "https://v", "mounts": {"acme/vault": "s"}, "extra": 1}})",
                                R"("connectors": {"timeout_ms": 10000}})",  // not below the request deadline
                                R"("connectors": {"max_response_bytes": 10}})", R"("connectors": {"proxy": "x"}})"}) {
    auto r = Config::parse(base + bad, "/");
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::ConfigInvalid) << bad;
    }
  }
}

TEST(Config, RefusesARepeatedKeyOrDeepNesting) {
  // Which of two "pin_file"s would win is a question nobody should have to ask.
  auto dup = Config::parse(R"({"pep": {"ca_file": "a", "cert_file": "b"}, "admin": {"ca_file": "a", "cert_file": "b"},
                              "hsm": {"pin_file": "p", "pin_file": "q"}, "state": {"rollback_protection": "none"}})",
                           "/");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::ConfigInvalid);
  EXPECT_NE(dup.error().message.find("JSON_DUPLICATE_KEY"), std::string::npos) << dup.error().message;
  EXPECT_NE(dup.error().message.find("pin_file"), std::string::npos) << dup.error().message;
  auto deep = Config::parse(R"({"name": )" + std::string(40, '[') + std::string(40, ']') + "}", "/");
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.error().message.find("JSON_TOO_DEEP"), std::string::npos) << deep.error().message;
}

}  // namespace
}  // namespace sealgate::appliance

namespace sealgate::appliance {
namespace {

// The closed sets (pdp.type, state.rollback_protection, mode, log.level) are enums
// in Config: each name maps to its value and back, anything else is refused with
// the message it always had.
Result<Config> parseWith(const std::string& more) { return Config::parse(kBase + more + "}", "/etc"); }

void expectRefused(const std::string& more, const std::string& message) {
  auto r = parseWith(more);
  ASSERT_FALSE(r.ok()) << more;
  EXPECT_EQ(r.error().code, ErrorCode::ConfigInvalid) << more;
  EXPECT_NE(r.error().message.find(message), std::string::npos) << more << ": " << r.error().message;
}

TEST(Config, PdpTypeIsAClosedSet) {
  auto c = parseWith(R"("name": "sg")");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->pdp.type, PdpType::Embedded);  // the default
  const std::string external = R"(, "url": "https://pdp:8181", "ca_file": "ca", "cert_file": "c", "key_file": "k"})";
  for (const auto& [name, type] : {std::pair{"embedded", PdpType::Embedded}, std::pair{"opa", PdpType::Opa},
                                   std::pair{"authzen", PdpType::Authzen}}) {
    c = parseWith(R"("pdp": {"type": ")" + std::string(name) + "\"" + external);
    ASSERT_TRUE(c.ok()) << name << ": " << c.error().describe();
    EXPECT_EQ(c->pdp.type, type);
    EXPECT_STREQ(pdpTypeName(type), name);
  }
  EXPECT_EQ(c->pdp.caFile, "/etc/ca");
  for (const char* bad : {"remote", "OPA", "", " opa"}) {
    expectRefused(R"("pdp": {"type": ")" + std::string(bad) + "\"" + external,
                  "pdp.type must be embedded, opa or authzen");
  }
  expectRefused(R"("pdp": {"type": 1})", "config.pdp.type must be a string");
  expectRefused(R"("pdp": {"type": null})", "config.pdp.type must be a string");
  // An external PDP still needs its URL and mTLS files.
  expectRefused(R"("pdp": {"type": "opa"})", "required for an external PDP");
  expectRefused(R"("pdp": {"type": "authzen", "url": "https://pdp", "ca_file": "ca", "cert_file": "c"})",
                "required for an external PDP");
}

TEST(Config, RollbackProtectionIsAClosedSetSaidExplicitly) {
  const std::string base = R"({"pep": {"ca_file": "a", "cert_file": "b", "public_url": "https://sg.example"},
                               "admin": {"ca_file": "a", "cert_file": "b"}, "hsm": {"pin_file": "p"}, )";
  auto c = Config::parse(base + R"("state": {"rollback_protection": "none"}})", "/");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->state.rollbackProtection, RollbackProtection::None);
  c = Config::parse(base + R"("state": {"rollback_protection": "tpm"}, "tpm": {"tcti": "swtpm:path=/s"}})", "/");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->state.rollbackProtection, RollbackProtection::Tpm);
  EXPECT_STREQ(rollbackProtectionName(RollbackProtection::Tpm), "tpm");
  EXPECT_STREQ(rollbackProtectionName(RollbackProtection::None), "none");
  const std::string said = "state.rollback_protection must be said explicitly";
  for (const char* state : {R"({})", R"({"rollback_protection": ""})", R"({"rollback_protection": "TPM"})",
                            R"({"rollback_protection": "off"})", R"({"rollback_protection": "none "})"}) {
    auto r = Config::parse(base + R"("state": )" + state + "}", "/");
    ASSERT_FALSE(r.ok()) << state;
    EXPECT_EQ(r.error().code, ErrorCode::ConfigInvalid);
    EXPECT_NE(r.error().message.find(said), std::string::npos) << r.error().message;
  }
  auto r = Config::parse(base + R"("state": {"rollback_protection": true}})", "/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::ConfigInvalid);
  EXPECT_NE(r.error().message.find("config.state.rollback_protection must be a string"), std::string::npos)
      << r.error().message;
}

TEST(Config, ModeIsAClosedSet) {
  auto c = parseWith(R"("mode": "development")");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->mode, RunMode::Development);
  c = parseWith(R"("mode": "production")");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->mode, RunMode::Production);
  EXPECT_STREQ(runModeName(RunMode::Production), "production");
  EXPECT_STREQ(runModeName(RunMode::Development), "development");
  for (const char* bad : {R"("mode": "Production")", R"("mode": "dev")", R"("mode": "")"}) {
    expectRefused(bad, "mode must be production or development");
  }
  expectRefused(R"("mode": 0)", "config.mode must be a string");
  // What the mode decides: the file provider only outside production.
  expectRefused(R"("mode": "production", "files": [{"tenant": "acme", "mount": "dev", "path": "s.json"}])",
                "refused in production mode");
  EXPECT_TRUE(parseWith(R"("mode": "development", "files": [{"tenant": "acme", "mount": "dev", "path": "s.json"}])"));
}

TEST(Config, LogLevelIsAClosedSet) {
  auto c = parseWith(R"("name": "sg")");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->logLevel, LogThreshold::Info);  // the default
  for (const auto& [name, level] :
       {std::pair{"trace", LogThreshold::Trace}, std::pair{"debug", LogThreshold::Debug},
        std::pair{"info", LogThreshold::Info}, std::pair{"warn", LogThreshold::Warn},
        std::pair{"error", LogThreshold::Error}, std::pair{"critical", LogThreshold::Critical},
        std::pair{"off", LogThreshold::Off}}) {
    c = parseWith(R"("log": {"level": ")" + std::string(name) + "\"}");
    ASSERT_TRUE(c.ok()) << name << ": " << c.error().describe();
    EXPECT_EQ(c->logLevel, level);
    EXPECT_STREQ(logThresholdName(level), name);  // what initLogging is given
  }
  for (const char* bad : {"warning", "INFO", "err", ""}) {
    expectRefused(R"("log": {"level": ")" + std::string(bad) + "\"}",
                  "log.level must be one of trace, debug, info, warn, error, critical, off");
  }
  expectRefused(R"("log": {"level": 2})", "config.log.level must be a string");
}

// Of two mistakes, the one reported is the one it always was: a section's names
// are checked after its other settings, and state.rollback_protection once every
// section has been read.
TEST(Config, WhichOfTwoMistakesIsReported) {
  expectRefused(R"("pdp": {"type": "remote", "timeout_ms": 1})", "config.pdp.timeout_ms must be in 10..60000");
  expectRefused(R"("log": {"level": "loud", "file": 3})", "config.log.file must be a string");
  auto r = Config::parse(R"({"pep": {"ca_file": "a", "cert_file": "b", "public_url": "https://sg.example"},
                             "admin": {"ca_file": "a", "cert_file": "b"}, "hsm": {"pin_file": "p"},
                             "state": {"rollback_protection": "maybe"}, "log": {"level": "loud"}})",
                         "/");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("log.level"), std::string::npos) << r.error().message;
}

TEST(Config, DatabaseRolesAndVaultMountsAreChecked) {
  const std::string db = R"("databases": [{"tenant": "acme", "mount": "db", "connection": {"host": "h"}, "roles": )";
  expectRefused(db + R"({"r": {"creation_statements": "CREATE ROLE x"}}}])",
                "databases[0].roles.r.creation_statements must be an array of SQL statements");
  expectRefused(db + R"({"r": {"revocation_statements": [""]}}}])",
                "databases[0].roles.r.revocation_statements holds a non-string");
  expectRefused(db + R"({"r": {"max_ttl": 0}}}])", "databases[0].roles.r.max_ttl must be a positive duration");
  expectRefused(
      db + R"({"r": {}}}, {"tenant": "acme", "mount": "db", "connection": {"host": "h"}, "roles": {"r": {}}}])",
      "databases[1] repeats a mount");
  expectRefused(R"("databases": {})", "databases must be an array of database mounts");
  expectRefused(
      R"("databases": [{"tenant": "acme", "mount": "db", "connection": {"host": "h", "port": 0}, "roles": {"r": {}}}])",
      "databases[0].connection.port must be in 1..65535");
  expectRefused(R"("files": {})", "files must be an array of file provider mounts");
  expectRefused(R"("mode": "development", "files": [{"tenant": "acme", "mount": "dev"}])",
                "files[0] needs a tenant, a mount and a path");
  expectRefused(R"("vault": {"address": "https://v", "mounts": {}})", "vault.mounts must map");
  expectRefused(R"("vault": {"address": "https://v", "mounts": {"acme/v": "s"}, "approle": {"secret": "x"}})",
                "unknown setting config.vault.approle.secret");
  auto c = parseWith(db + R"({"r": {"creation_statements": ["CREATE ROLE {{name}}"],
                                     "revocation_statements": ["DROP ROLE {{name}}"]}}}])");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  const auto& role = c->databases.at(0).roles.at("r");
  EXPECT_EQ(role.creationStatements, (std::vector<std::string>{"CREATE ROLE {{name}}"}));
  EXPECT_EQ(role.revocationStatements, (std::vector<std::string>{"DROP ROLE {{name}}"}));
  EXPECT_EQ(c->databases[0].connection.connectTimeout, std::chrono::seconds(5));
}

// A refused configuration lists every problem it has, each under its key, not
// only the first: wrong types and ranges in several sections, unknown keys,
// every bad database entry, and the rules checked once all is read.
TEST(Config, CheckListsEveryProblemWithItsKey) {
  const auto checked = Config::check(R"({
    "pep": {"ca_file": "a", "cert_file": "b", "public_url": "ftp://x"},
    "admin": {"cert_file": "b", "colour": "red"},
    "limits": {"max_connections": 0, "worker_threads": "8"},
    "grants": {"max_ttl_seconds": 0},
    "databases": [{"tenant": "acme", "mount": "db", "connection": {"host": "h", "port": 0}, "roles": {"r": {}}},
                  {"tenant": "acme", "mount": "db2", "connection": {}, "roles": {"r": {}}}],
    "log": {"level": "loud"},
    "sharding": true
  })",
                                     "/etc");
  ASSERT_FALSE(checked.config.has_value());
  std::map<std::string, std::string> byKey;
  for (const auto& p : checked.problems) byKey[p.key] += p.message + "|";
  const std::pair<const char*, const char*> expected[] = {
      {"sharding", "unknown setting config.sharding"},
      {"admin.colour", "unknown setting config.admin.colour"},
      {"limits.max_connections", "must be in 1..100000"},
      {"limits.worker_threads", "must be a non-negative integer"},
      {"grants.max_ttl_seconds", "must be in 1..86400"},
      {"databases[0]", "databases[0].connection.port must be in 1..65535"},
      {"databases[1]", "databases[1].connection.host is required"},
      {"log", "log.level must be one of"},
      {"hsm.pin_file", "hsm.pin_file or hsm.pin_env is required"},
      {"state.rollback_protection", "must be said explicitly"},
      {"admin.ca_file", "admin.ca_file is required"},
      {"pep.public_url", "not https"},
  };
  for (const auto& [key, needle] : expected) {
    ASSERT_TRUE(byKey.count(key)) << "no problem under " << key;
    EXPECT_NE(byKey[key].find(needle), std::string::npos) << key << ": " << byKey[key];
  }
  EXPECT_EQ(checked.problems.size(), std::size(expected)) << [&] {
    std::string all;
    for (const auto& p : checked.problems) all += p.key + ": " + p.message + "\n";
    return all;
  }();
  // parse() refuses it with all of them in one message.
  auto parsed = Config::parse(R"({"limits": {"max_connections": 0}, "grants": {"max_uses": 0}})", "/etc");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message.find("limits.max_connections"), std::string::npos) << parsed.error().message;
  EXPECT_NE(parsed.error().message.find("grants.max_uses"), std::string::npos) << parsed.error().message;
  // A valid one has no problem; JSON that does not parse is one problem about the file.
  EXPECT_TRUE(Config::check(kMinimal, "/etc").problems.empty());
  const auto broken = Config::check("{\"pep\": ", "/etc");
  ASSERT_EQ(broken.problems.size(), 1u);
  EXPECT_EQ(broken.problems[0].key, "");
  EXPECT_NE(broken.problems[0].message.find("not valid JSON"), std::string::npos);
  EXPECT_EQ(Config::checkFile("/nonexistent/sealgated.conf").problems.size(), 1u);
}

// unreadableFiles names each missing file under its key, and data_dir when it is
// not a writable folder; files that exist are not named.
TEST(Config, UnreadableFilesNamesEachMissingFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("sealgate-config-files-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "ca.pem") << "x";
  std::ofstream(dir / "hsm.pin") << "1234";
  auto c =
      Config::parse(R"({"pep": {"ca_file": "ca.pem", "cert_file": "server.pem", "public_url": "https://sg.example"},
                             "admin": {"ca_file": "ca.pem", "cert_file": "server.pem"}, "hsm": {"pin_file": "hsm.pin",
                             "module": ")" +
                        (dir / "module.so").string() + R"("}, "state": {"rollback_protection": "none"},
                             "data_dir": "data", "policy_file": "policy.json"})",
                    dir.string());
  ASSERT_TRUE(c.ok()) << c.error().describe();
  std::set<std::string> keys;
  for (const auto& p : unreadableFiles(*c)) {
    keys.insert(p.key);
    EXPECT_NE(p.message.find(dir.string()), std::string::npos) << p.message;  // the path is named
  }
  EXPECT_EQ(keys, (std::set<std::string>{"pep.cert_file", "admin.cert_file", "hsm.module", "policy_file", "data_dir"}));
  std::filesystem::create_directories(dir / "data");
  std::ofstream(dir / "server.pem") << "x";
  std::ofstream(dir / "policy.json") << "{}";
  std::ofstream(dir / "module.so") << "x";
  EXPECT_TRUE(unreadableFiles(*c).empty());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sealgate::appliance
